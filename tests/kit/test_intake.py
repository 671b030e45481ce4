"""The intake is total, on the real RabbitMQ: every header and attribute is checked before a handler runs, a message
whose content a handler cannot process is parked once with that reason, a failing one is parked by the intake on its
last delivery with the real reason, what the broker dead-letters by itself is counted and reported, and every park
is counted once under its category. Property-based: arbitrary headers and bodies never reach a handler unchecked,
never crash the consumer, and end either handled or parked exactly once."""

from __future__ import annotations

import json
import uuid
from collections import Counter as Tally
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aio_pika
import pytest
from faststream.rabbit import RabbitBroker
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from herald.contracts.envelope import ReceivedEvent
from herald.contracts.examples import example_for
from herald.contracts.operations import MessageParked, ParkCategory
from herald.contracts.publishing import PublishRequested
from herald.contracts.routing import DEAD_LETTER_EXCHANGE, EVENTS_EXCHANGE, binding_key, dead_letter_routing_key
from herald.kit.amqp_consumer import ConcurrentConsumer, Delivery
from herald.kit.broker import EventPublisher, build_broker, declare_exchanges
from herald.kit.consumers import (
    PARKED_CATEGORY_HEADER,
    PARKED_REASON_HEADER,
    Intake,
    UnprocessableMessage,
    declare_work_queue,
)
from herald.kit.settings import ServiceSettings
from tests.support.consuming import Running, start
from tests.support.eventually import eventually, immediately

ROUTING_KEY = "publish.requested.v2.x"
DELIVERY_LIMIT = 2
Behaviour = Callable[[ReceivedEvent], Awaitable[None]]


class RecordingIntake(Intake):
    """The intake under test, noting which messages it parked (and how often) for the assertions."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.parks: Tally[str] = Tally()

    async def park(self, message: Any, reason: str, category: ParkCategory, **kwargs: Any) -> None:
        await super().park(message, reason, category, **kwargs)
        self.parks[message.message_id or ""] += 1


@dataclass
class Consumer:
    """One work queue consumed through an intake, with a handler whose behaviour each test sets."""

    name: str
    broker: RabbitBroker
    intake: RecordingIntake
    registry: CollectorRegistry
    channel: aio_pika.abc.AbstractChannel
    handled: Tally[str] = field(default_factory=Tally)
    behaviour: Behaviour | None = None
    reports: list[dict[str, Any]] = field(default_factory=list)
    running: Running[ConcurrentConsumer] | None = None
    """The work queue consumed through the intake (started by the fixture; a test may stop and restart it)."""

    def parked(self, category: ParkCategory) -> float:
        labels = {"queue": self.name, "category": category.value}
        return self.registry.get_sample_value("herald_parked_messages_total", labels) or 0.0

    async def send(self, body: bytes, headers: dict[str, Any], *, message_id: str | None = None) -> str:
        message_id = message_id or uuid.uuid4().hex
        exchange = await self.channel.get_exchange(EVENTS_EXCHANGE)
        await exchange.publish(
            aio_pika.Message(body, headers=headers, message_id=message_id, content_type="application/json"),
            routing_key=ROUTING_KEY,
        )
        return message_id

    async def settled(self, message_id: str) -> None:
        await eventually(
            immediately(lambda: self.handled[message_id] or self.intake.parks[message_id]),
            what=f"{message_id} handled or parked",
        )

    async def parking_queue(self) -> dict[str, aio_pika.abc.AbstractIncomingMessage]:
        queue = await self.channel.declare_queue(f"{self.name}.dead", passive=True)
        found = {}
        while (message := await queue.get(fail=False, no_ack=True)) is not None:
            found[message.message_id or ""] = message
        return found


@pytest.fixture(scope="module")
async def consumer(amqp_url: str) -> AsyncIterator[Consumer]:
    name = f"kit-intake-{uuid.uuid4().hex[:6]}"
    registry = CollectorRegistry()
    broker = build_broker(ServiceSettings(amqp_url=amqp_url, service_name="kit-test"), registry)
    events = EventPublisher(broker, source="/herald/kit-test", timeout=5)
    intake = RecordingIntake(broker, events, name, registry=registry, delivery_limit=DELIVERY_LIMIT)
    intake.watch_dead_letters()
    connection = await aio_pika.connect_robust(amqp_url)
    channel = await connection.channel()
    state = Consumer(name, broker, intake, registry, channel)

    async def handle(message: Delivery) -> None:
        received = None
        try:
            received = await intake.read(message)
            if received is None:
                return
            if state.behaviour is not None:
                await state.behaviour(received)
        except Exception as error:
            if not await intake.failed(message, error, received):
                await message.requeue()
            return
        state.handled[message.message_id or ""] += 1
        await message.ack()

    await broker.connect()
    await declare_exchanges(broker)
    await declare_work_queue(broker, name, [binding_key(PublishRequested)], delivery_limit=DELIVERY_LIMIT)
    reports = await channel.declare_queue(exclusive=True)
    await reports.bind(EVENTS_EXCHANGE, routing_key=binding_key(MessageParked))

    async def collect(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        state.reports.append(json.loads(message.body))

    await reports.consume(collect, no_ack=True)
    await broker.start()  # the dead-letter watch
    state.running = start(ConcurrentConsumer(amqp_url, name, prefetch=10, handle=handle))
    yield state
    await state.running.close()
    await broker.stop()
    for queue in (name, f"{name}.dead", f"{name}.dead.watch"):
        await channel.queue_delete(queue)
    await connection.close()


def _valid(consumer: Consumer) -> tuple[bytes, dict[str, Any]]:
    envelope = EventPublisher(consumer.broker, source="/herald/kit-test", timeout=5).envelope(
        example_for(PublishRequested)
    )
    return envelope.body, dict(envelope.headers)


async def _reports_for(consumer: Consumer, message_id: str, count: int = 1) -> list[dict[str, Any]]:
    def found() -> list[dict[str, Any]]:
        reports = [r for r in consumer.reports if r["original_message_id"] == message_id]
        return reports if len(reports) >= count else []

    return await eventually(immediately(found), what=f"{count} report(s) on {message_id}")


async def _dead_letter_watch_marker(consumer: Consumer) -> None:
    """Send a broker-style dead letter behind whatever the dead-letter watch already holds and wait for its report:
    the watch handles its queue in order and reports through the same publisher, so a report (or count) it was going
    to make for anything ahead of the marker has been made by then. The marker counts as malformed, not poison."""
    marker_id = f"marker-{uuid.uuid4().hex}"
    exchange = await consumer.channel.get_exchange(DEAD_LETTER_EXCHANGE)
    await exchange.publish(
        aio_pika.Message(b"{}", headers={"x-first-death-reason": "test-marker"}, message_id=marker_id),
        routing_key=dead_letter_routing_key(consumer.name),
    )
    [report] = await _reports_for(consumer, marker_id)
    assert report["category"] == "malformed"


HOSTILE_HEADERS: list[tuple[str, Any, str]] = [
    ("cloudEvents_time", "9999-12-31T23:59:59-05:00", "out of range"),  # the poison that blocked a publisher
    ("cloudEvents_time", "0001-01-01T00:00:00+05:00", "out of range"),
    ("cloudEvents_id", "id-\x00-nul", "NUL"),
    ("herald-attempt", "many", "herald-attempt"),
    ("herald-attempt", 10**9, "out of range"),
    ("herald-replayed-at", "yesterday", "herald-replayed-at"),
    ("herald-retry-reason", 42, "herald-retry-reason"),
]


@pytest.mark.parametrize(("header", "value", "said"), HOSTILE_HEADERS)
async def test_a_hostile_header_is_parked_once_before_any_handler_runs(
    consumer: Consumer, header: str, value: Any, said: str
) -> None:
    body, headers = _valid(consumer)
    before = consumer.parked(ParkCategory.MALFORMED)
    message_id = await consumer.send(body, {**headers, header: value})
    await consumer.settled(message_id)
    assert consumer.handled[message_id] == 0
    assert consumer.intake.parks[message_id] == 1
    [report] = await _reports_for(consumer, message_id)
    assert report["category"] == "malformed"
    assert said in report["reason"]
    assert consumer.parked(ParkCategory.MALFORMED) == before + 1


@pytest.mark.parametrize(
    ("field_name", "value", "said"),
    [
        ("text", "nul \u0000 inside", "NUL"),
        ("scheduled_at", "9999-12-31T23:59:59-05:00", ""),
        ("occurred_at", "0001-01-01T00:00:00+05:00", ""),
    ],
)
async def test_a_payload_that_cannot_be_stored_or_computed_with_is_parked(
    consumer: Consumer, field_name: str, value: str, said: str
) -> None:
    body, headers = _valid(consumer)
    payload = json.loads(body) | {field_name: value}
    message_id = await consumer.send(json.dumps(payload).encode(), headers)
    await consumer.settled(message_id)
    assert consumer.handled[message_id] == 0
    [report] = await _reports_for(consumer, message_id)
    assert report["category"] == "malformed"
    assert field_name in report["reason"]
    assert said in report["reason"]


async def test_an_unknown_type_is_counted_as_unknown_type(consumer: Consumer) -> None:
    body, headers = _valid(consumer)
    before = consumer.parked(ParkCategory.UNKNOWN_TYPE)
    message_id = await consumer.send(body, {**headers, "cloudEvents_type": "com.herald.publish.requested.v9"})
    await consumer.settled(message_id)
    assert consumer.parked(ParkCategory.UNKNOWN_TYPE) == before + 1


async def test_a_message_whose_content_the_handler_cannot_process_is_parked_once_not_requeued(
    consumer: Consumer,
) -> None:
    attempts: Tally[str] = Tally()

    async def refuse(received: ReceivedEvent) -> None:
        attempts[received.attributes.id] += 1
        raise UnprocessableMessage("no such account: 9c8b7a65")

    consumer.behaviour = refuse
    try:
        body, headers = _valid(consumer)
        message_id = await consumer.send(body, headers)
        await consumer.settled(message_id)
    finally:
        consumer.behaviour = None
    assert sum(attempts.values()) == 1
    [report] = await _reports_for(consumer, message_id)
    assert (report["category"], report["reason"]) == ("malformed", "no such account: 9c8b7a65")
    assert consumer.intake.parks[message_id] == 1


async def test_a_message_failing_on_every_delivery_is_parked_by_the_intake_with_the_real_reason(
    consumer: Consumer,
) -> None:
    async def database_down(_received: ReceivedEvent) -> None:
        raise ConnectionRefusedError("connection to PostgreSQL refused")

    consumer.behaviour = database_down
    before = consumer.parked(ParkCategory.POISON)
    try:
        body, headers = _valid(consumer)
        message_id = await consumer.send(body, headers)
        await consumer.settled(message_id)
    finally:
        consumer.behaviour = None
    [report] = await _reports_for(consumer, message_id)
    assert report["category"] == "poison"
    assert "ConnectionRefusedError: connection to PostgreSQL refused" in report["reason"]
    assert report["reason"].startswith(f"failed on all {DELIVERY_LIMIT + 1} deliveries")
    parked = (await consumer.parking_queue())[message_id]
    assert PARKED_REASON_HEADER in parked.headers  # parked by the intake, not dead-lettered by the broker
    await _dead_letter_watch_marker(consumer)  # the watch sees the copy too, and must not count it again
    assert consumer.parked(ParkCategory.POISON) == before + 1
    assert len(await _reports_for(consumer, message_id)) == 1


async def test_the_brokers_own_dead_letters_are_counted_and_reported_once(consumer: Consumer, amqp_url: str) -> None:
    """A consumer that never gets to park (it crashes, or nacks outside the intake) leaves the parking to the
    broker's delivery limit: the watch counts it as poison and reports it."""
    connection = await aio_pika.connect_robust(amqp_url)
    channel = await connection.channel()
    await channel.set_qos(prefetch_count=1)
    body, headers = _valid(consumer)
    before = consumer.parked(ParkCategory.POISON)
    assert consumer.running is not None
    await consumer.running.close()  # the intake's consumer steps aside; a crashing one takes the queue
    try:
        queue = await channel.declare_queue(consumer.name, passive=True)
        message_id = await consumer.send(body, headers)
        for _ in range(DELIVERY_LIMIT + 1):
            message = await eventually(lambda: queue.get(fail=False), what=f"a delivery of {message_id}")
            assert message is not None  # eventually returns a truthy result
            await message.nack(requeue=True)
    finally:
        await connection.close()
        consumer.running = start(consumer.running.consumer)  # the same consumer, consuming again
    [report] = await _reports_for(consumer, message_id)
    assert report["category"] == "poison"
    assert "dead-lettered by the broker (delivery_limit)" in report["reason"]
    parked = (await consumer.parking_queue())[message_id]
    assert PARKED_CATEGORY_HEADER not in parked.headers
    assert consumer.parked(ParkCategory.POISON) == before + 1


# -- property-based: arbitrary headers and bodies ---------------------------------------------------------------------

_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)
_header_values = st.one_of(
    _text,
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.binary(max_size=40),
    st.sampled_from(
        ["9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+05:00", "2030-01-01T00:00:00Z", "\x00", "com.herald.x.v1"]
    ),
)
_header_names = st.one_of(
    st.sampled_from(
        [
            "cloudEvents_id",
            "cloudEvents_type",
            "cloudEvents_time",
            "cloudEvents_source",
            "cloudEvents_specversion",
            "cloudEvents_subject",
            "herald-attempt",
            "herald-replayed-at",
            "herald-retry-reason",
        ]
    ),
    st.text(st.characters(codec="ascii", exclude_characters="\x00"), min_size=1, max_size=20),
)
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | _text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
    max_leaves=6,
)


@st.composite
def _messages(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any], bytes | None]:
    """(headers to change, payload fields to change, or a raw body replacing the payload)."""
    headers = draw(st.dictionaries(_header_names, _header_values, max_size=4))
    fields = draw(
        st.dictionaries(
            st.sampled_from(["text", "title", "team_id", "scheduled_at", "occurred_at", "actor", "link", "extra"]),
            _json_values | st.sampled_from(["9999-12-31T23:59:59-05:00", "nul\u0000"]),
            max_size=3,
        )
    )
    raw = draw(st.none() | st.binary(max_size=60))
    return headers, fields, raw


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=_messages())
async def test_arbitrary_headers_and_bodies_end_handled_or_parked_exactly_once(
    consumer: Consumer, case: tuple[dict[str, Any], dict[str, Any], bytes | None]
) -> None:
    changed_headers, changed_fields, raw = case
    body, headers = _valid(consumer)
    payload = raw if raw is not None else json.dumps(json.loads(body) | changed_fields).encode()
    try:
        message_id = await consumer.send(payload, {**headers, **changed_headers})
    except (ValueError, TypeError, OverflowError):
        return  # aio-pika cannot even encode these headers: nothing reaches the broker
    await consumer.settled(message_id)
    assert consumer.handled[message_id] + consumer.intake.parks[message_id] == 1
