"""``herald parked list|show|replay|purge`` on the real RabbitMQ: messages parked by the kit's intake and by the
broker's delivery limit are listed with their reasons, replayed exactly once (and audited), and purged."""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aio_pika
import pytest
from faststream.rabbit import RabbitBroker
from prometheus_client import CollectorRegistry

from herald.contracts.base import Event
from herald.contracts.examples import example_for
from herald.contracts.operations import MessageParked, MessagePurged, MessageReplayed, ParkCategory
from herald.contracts.publishing import PublishRequested
from herald.contracts.routing import EVENTS_EXCHANGE, binding_key
from herald.kit.amqp_consumer import ConcurrentConsumer, Delivery
from herald.kit.broker import EventPublisher, build_broker, declare_exchanges
from herald.kit.consumers import Intake, declare_work_queue
from herald.kit.settings import ServiceSettings
from herald.operator.cli import run
from herald.operator.parking import KNOWN_WORK_QUEUES, ParkingLot
from herald.operator.settings import OperatorSettings
from tests.support.consuming import Running, start
from tests.support.eventually import eventually

ATTEMPT = "herald-attempt"


def _management_url(amqp_url: str) -> str:
    host = urlsplit(amqp_url).hostname or "127.0.0.1"
    return f"http://{host}:{os.environ.get('HERALD_TEST_RABBIT_MGMT_PORT', '15672')}"


@dataclass
class Lot:
    """A work queue with its parking queue, three parked messages, and listeners for the operation events."""

    settings: OperatorSettings
    connection: aio_pika.abc.AbstractRobustConnection
    channel: aio_pika.abc.AbstractChannel
    work: str
    events: aio_pika.abc.AbstractQueue
    exhausted: PublishRequested
    exhausted_id: str

    @property
    def parking(self) -> str:
        return f"{self.work}.dead"

    async def count(self, queue: str) -> int:
        """Exactly how many messages ``queue`` holds (a quorum queue's declare-ok count can lag)."""
        channel = await self.connection.channel()
        try:
            declared = await channel.declare_queue(queue, passive=True)
            count = 0
            while await declared.get(fail=False) is not None:
                count += 1
            return count
        finally:
            await channel.close()  # returns them all

    async def cli(self, *argv: str) -> tuple[int, Any]:
        out = io.StringIO()
        status = await run(["--json", *argv], self.settings, out)
        text = out.getvalue()
        return status, json.loads(text) if text.startswith(("[", "{")) else text

    async def replayed_events(self) -> list[dict[str, Any]]:
        return await self.operation_events(MessageReplayed)

    async def operation_events(self, cls: type[Event]) -> list[dict[str, Any]]:
        """The ``cls`` events published so far (the command's publishes are confirmed before it returns): a marker
        sent to the events queue now arrives behind every one of them."""
        marker = f"marker-{uuid.uuid4().hex[:8]}"
        await self.channel.default_exchange.publish(aio_pika.Message(b"{}", message_id=marker), self.events.name)
        found: list[dict[str, Any]] = []

        async def marker_reached() -> bool:
            while (message := await self.events.get(fail=False)) is not None:
                await message.ack()
                if message.message_id == marker:
                    return True
                if message.headers.get("cloudEvents_type") == cls.ce_type():
                    found.append(json.loads(message.body))
            return False

        await eventually(marker_reached, what="the marker received")
        return found

    async def holds(self, queue: str, count: int) -> None:
        """Until ``queue`` holds exactly ``count`` messages."""

        async def exactly() -> bool:
            return await self.count(queue) == count

        await eventually(exactly, what=f"{count} messages in {queue}")


async def _wait_for(predicate: Any, timeout: float = 10) -> None:
    await eventually(predicate, within=timeout)


async def _park_with_intake(
    broker: RabbitBroker, amqp_url: str, name: str, channel: aio_pika.abc.AbstractChannel
) -> tuple[Any, str, Running[ConcurrentConsumer]]:
    """Park a malformed message and a publish request whose attempts are exhausted, as real consumers do (the
    consumer is returned running)."""
    events = EventPublisher(broker, source="herald/ops-test", timeout=5)
    intake = Intake(broker, events, name)

    async def handle(message: Delivery) -> None:
        received = await intake.read(message)
        if received is not None:  # a valid request that kept failing: what a publisher parks after max_attempts
            await intake.park(message, "5 attempts failed; last: HTTP 503", ParkCategory.ATTEMPTS_EXHAUSTED)

    running = start(ConcurrentConsumer(amqp_url, name, prefetch=5, handle=handle))
    await channel.default_exchange.publish(aio_pika.Message(b"not json", message_id="malformed-1"), routing_key=name)
    request = example_for(PublishRequested)
    envelope = events.envelope(request)
    await channel.default_exchange.publish(
        aio_pika.Message(
            envelope.body,
            headers={**envelope.headers, ATTEMPT: 5, "herald-retry-reason": "HTTP 503"},
            message_id=envelope.message_id,
            correlation_id="corr-1",
            content_type=envelope.content_type,
            type=envelope.type,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        ),
        routing_key=name,
    )
    return request, envelope.message_id, running


async def _park_poison(channel: aio_pika.abc.AbstractChannel, name: str) -> None:
    """A message that crashes its consumer until the queue's delivery limit (1) dead-letters it."""
    await channel.default_exchange.publish(
        aio_pika.Message(b'{"team_id": "nope"}', message_id="poison-1", delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
        routing_key=name,
    )
    queue = await channel.declare_queue(name, passive=True)

    async def dead_lettered() -> bool:
        message = await queue.get(fail=False)
        if message is None:
            return True
        await message.nack(requeue=True)
        return False

    await eventually(dead_lettered, within=10)


@pytest.fixture
async def lot(amqp_url: str) -> AsyncIterator[Lot]:
    name = f"ops-{uuid.uuid4().hex[:8]}"
    broker = build_broker(ServiceSettings(amqp_url=amqp_url, service_name="ops-test"), CollectorRegistry())
    await broker.connect()
    await declare_exchanges(broker)
    await declare_work_queue(broker, name, [], delivery_limit=1)
    connection = await aio_pika.connect_robust(amqp_url)
    channel = await connection.channel()
    events = await channel.declare_queue(exclusive=True)
    for cls in (MessageParked, MessageReplayed, MessagePurged):
        await events.bind(EVENTS_EXCHANGE, routing_key=binding_key(cls))
    settings = OperatorSettings(amqp_url=amqp_url, management_url=_management_url(amqp_url))
    lot = Lot(settings, connection, channel, name, events, example_for(PublishRequested), "")

    request, message_id, running = await _park_with_intake(broker, amqp_url, name, channel)
    await _wait_for(lambda: _at_least(lot, lot.parking, 2))
    await running.close()  # no consumer from here on: what lands in the work queue stays there to be counted
    await broker.stop()
    await _park_poison(channel, name)
    await _wait_for(lambda: _at_least(lot, lot.parking, 3))
    await lot.replayed_events()  # drop the MessageParked events
    lot.exhausted, lot.exhausted_id = request, message_id
    yield lot
    await connection.close()


async def _has_count(lot: Lot, count: int) -> bool:
    return [q["messages"] for q in await _listed(lot)] == [count]


async def _at_least(lot: Lot, queue: str, count: int) -> bool:
    return await lot.count(queue) >= count


async def _listed(lot: Lot) -> list[dict[str, Any]]:
    status, listed = await lot.cli("parked", "list")
    assert status == 0
    return [q for q in listed if q["queue"] == lot.parking]


async def test_list_and_show_give_each_message_its_reason_and_remove_nothing(lot: Lot) -> None:
    # The management API refreshes its counts every few seconds.
    await _wait_for(lambda: _has_count(lot, 3), timeout=15)
    assert await _listed(lot) == [{"queue": lot.parking, "work_queue": lot.work, "messages": 3}]

    status, shown = await lot.cli("parked", "show", lot.work, "--body")
    assert status == 0
    by_id = {m["message_id"]: m for m in shown}
    assert set(by_id) == {"malformed-1", lot.exhausted_id, "poison-1"}
    assert by_id["malformed-1"]["category"] == "malformed"
    assert "JSON" in by_id["malformed-1"]["reason"] or "CloudEvents" in by_id["malformed-1"]["reason"]
    exhausted = by_id[lot.exhausted_id]
    assert exhausted["category"] == "attempts_exhausted"
    assert exhausted["reason"] == "5 attempts failed; last: HTTP 503"
    assert exhausted["type"] == PublishRequested.ce_type()
    assert exhausted["team_id"] == str(lot.exhausted.team_id)
    assert exhausted["parked_from"] == lot.work
    assert json.loads(exhausted["body"])["distribution_id"] == str(lot.exhausted.distribution_id)
    poison = by_id["poison-1"]
    assert poison["category"] == "poison"
    assert "delivery_limit" in poison["reason"]
    assert poison["parked_from"] == lot.work
    assert poison["parked_at"] is not None

    out = io.StringIO()
    assert await run(["parked", "show", lot.parking], lot.settings, out) == 0
    assert "attempts_exhausted" in out.getvalue()
    assert "poison" in out.getvalue()
    assert await lot.count(lot.parking) == 3  # showing removed nothing


async def test_replay_lands_in_the_work_queue_exactly_once_and_is_audited(lot: Lot) -> None:
    status, report = await lot.cli(
        "parked", "replay", lot.work, "--message-id", lot.exhausted_id, "--note", "platform fixed"
    )
    assert status == 0
    assert report["replayed"] == [lot.exhausted_id]
    assert report["failed"] == {}
    assert report["target_queue"] == lot.work

    # Once more: it is no longer parked, so nothing is sent again, and the command says so.
    status, again = await lot.cli("parked", "replay", lot.work, "--message-id", lot.exhausted_id)
    assert status == 1
    assert again["replayed"] == []
    assert again["not_found"] == [lot.exhausted_id]

    await lot.holds(lot.work, 1)
    await lot.holds(lot.parking, 2)
    work = await lot.channel.declare_queue(lot.work, passive=True)
    copy = await work.get(fail=True)
    assert copy.message_id == lot.exhausted_id
    assert copy.correlation_id == "corr-1"
    assert copy.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert json.loads(copy.body) == json.loads(lot.exhausted.model_dump_json())
    headers = copy.headers
    assert headers["cloudEvents_type"] == PublishRequested.ce_type()
    # x-delivery-count is the broker's own, added because counting above fetched the copy once.
    assert not [k for k in headers if k.startswith(("x-", "herald-parked-")) and k != "x-delivery-count"]
    assert ATTEMPT not in headers  # a retried publish starts again at attempt 1
    assert "herald-retry-reason" not in headers
    assert "herald-replayed-at" in headers
    await copy.ack()

    events = await lot.replayed_events()
    assert len(events) == 1
    event = events[0]
    assert event["original_message_id"] == lot.exhausted_id
    assert event["original_type"] == PublishRequested.ce_type()
    assert event["parking_queue"] == lot.parking
    assert event["target_queue"] == lot.work
    assert event["team_id"] == str(lot.exhausted.team_id)
    assert event["note"] == "platform fixed"
    assert event["actor"] == "service:operator"


async def test_replay_all_with_a_limit_then_the_rest(lot: Lot) -> None:
    status, first = await lot.cli("parked", "replay", lot.parking, "--limit", "2")
    assert status == 0
    assert len(first["replayed"]) == 2
    status, rest = await lot.cli("parked", "replay", lot.parking)
    assert status == 0
    assert len(rest["replayed"]) == 1
    assert set(first["replayed"]) | set(rest["replayed"]) == {"malformed-1", lot.exhausted_id, "poison-1"}
    await lot.holds(lot.parking, 0)
    await lot.holds(lot.work, 3)
    assert len(await lot.replayed_events()) == 3


async def test_a_copy_the_broker_refuses_leaves_the_message_parked(lot: Lot) -> None:
    full = f"{lot.work}-full"
    await lot.channel.declare_queue(full, durable=True, arguments={"x-max-length": 0, "x-overflow": "reject-publish"})
    status, report = await lot.cli("parked", "replay", lot.work, "--to", full, "--message-id", "poison-1")
    assert status == 1
    assert report["replayed"] == []
    assert "poison-1" in report["failed"]
    await lot.holds(lot.parking, 3)
    assert await lot.replayed_events() == []


async def test_unknown_queue_is_a_usage_error(lot: Lot) -> None:
    status, text = await lot.cli("parked", "show", f"{lot.work}-nowhere")
    assert status == 2
    assert "no queue" in text


async def test_purge_needs_yes_then_removes_what_was_asked(lot: Lot) -> None:
    status, _ = await lot.cli("parked", "purge", lot.work)
    assert status == 2
    assert await lot.count(lot.parking) == 3

    status, purged = await lot.cli(
        "parked", "purge", lot.work, "--yes", "--message-id", "poison-1", "--note", "content deleted"
    )
    assert (status, purged) == (0, {"purged": 1, "not_found": []})
    [event] = await lot.operation_events(MessagePurged)
    assert (event["original_message_id"], event["parking_queue"], event["note"]) == (
        "poison-1",
        lot.parking,
        "content deleted",
    )
    assert event["actor"] == "service:operator"
    assert event["parked_reason"]
    status, purged = await lot.cli("parked", "purge", lot.work, "--yes", "--message-id", "poison-1")
    assert (status, purged) == (1, {"purged": 0, "not_found": ["poison-1"]})
    await lot.holds(lot.parking, 2)

    status, purged = await lot.cli("parked", "purge", lot.work, "--yes")
    assert (status, purged) == (0, {"purged": 2, "not_found": []})
    assert await lot.count(lot.parking) == 0
    assert len(await lot.operation_events(MessagePurged)) == 2  # every deletion is recorded


async def test_without_the_management_api_the_known_parking_queues_are_checked(amqp_url: str) -> None:
    settings = OperatorSettings(amqp_url=amqp_url, management_url="http://127.0.0.1:9", operation_timeout_seconds=2)
    async with ParkingLot.open(settings) as lot:
        found = await lot.parking_queues()
    assert {q.name for q in found} <= {f"{q}.dead" for q in KNOWN_WORK_QUEUES}
    assert "publisher.meta" in KNOWN_WORK_QUEUES
    assert "scheduler" in KNOWN_WORK_QUEUES


async def test_the_herald_console_script_runs(lot: Lot) -> None:
    script = Path(sys.executable).parent / "herald"
    env = {**os.environ, "HERALD_AMQP_URL": lot.settings.amqp_url.get_secret_value()}
    env["HERALD_MANAGEMENT_URL"] = lot.settings.management_base()
    result = await asyncio.to_thread(
        subprocess.run, [str(script), "parked", "list", "--json"], env=env, capture_output=True, timeout=30
    )
    assert result.returncode == 0, result.stderr.decode()
    assert lot.parking in [q["queue"] for q in json.loads(result.stdout)]
