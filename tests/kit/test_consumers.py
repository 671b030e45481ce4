"""Work queues with parking lots, the intake that parks bad input, and the concurrent consumer that feeds a handler
(:class:`herald.kit.amqp_consumer.ConcurrentConsumer`: prefetch window, graceful stop, reconnection), on the real
RabbitMQ."""

import asyncio
import json
import uuid
from collections.abc import AsyncIterator

import aio_pika
import pytest
from faststream.rabbit import RabbitBroker
from prometheus_client import CollectorRegistry

from herald.contracts.envelope import ReceivedEvent
from herald.contracts.examples import example_for
from herald.contracts.operations import MessageParked
from herald.contracts.publishing import PublishRequested
from herald.contracts.routing import EVENTS_EXCHANGE, binding_key
from herald.kit.amqp_consumer import ConcurrentConsumer, Delivery, DeliveryHandler
from herald.kit.broker import EventPublisher, build_broker, declare_exchanges
from herald.kit.consumers import PARKED_REASON_HEADER, Intake, declare_work_queue
from herald.kit.settings import ServiceSettings
from tests.support.consuming import Running, close_connections_named, start
from tests.support.eventually import eventually, immediately
from tests.support.queues import ready, take


@pytest.fixture
async def setup(amqp_url: str) -> AsyncIterator[tuple[RabbitBroker, str, list[ReceivedEvent]]]:
    name = f"kit-intake-{uuid.uuid4().hex[:6]}"
    broker = build_broker(ServiceSettings(amqp_url=amqp_url, service_name="kit-test"), CollectorRegistry())
    events = EventPublisher(broker, source="/herald/kit-test", timeout=5)
    intake = Intake(broker, events, name)
    received: list[ReceivedEvent] = []

    async def handle(message: Delivery) -> None:
        event = await intake.read(message)
        if event is not None:
            received.append(event)
            await message.ack()

    await broker.connect()
    await declare_exchanges(broker)
    await declare_work_queue(broker, name, [binding_key(PublishRequested)])
    running = start(ConcurrentConsumer(amqp_url, name, prefetch=5, handle=handle))
    yield broker, name, received
    await running.close()
    await broker.stop()


async def test_malformed_messages_are_parked_with_reason_and_consumer_goes_on(
    amqp_url: str, setup: tuple[RabbitBroker, str, list[ReceivedEvent]]
) -> None:
    broker, name, received = setup
    connection = await aio_pika.connect_robust(amqp_url)
    channel = await connection.channel()
    watch = await channel.declare_queue(exclusive=True)
    await watch.bind(EVENTS_EXCHANGE, routing_key=binding_key(MessageParked))
    publisher = EventPublisher(broker, source="/herald/kit-test", timeout=5)
    good = example_for(PublishRequested)
    exchange = await channel.get_exchange(EVENTS_EXCHANGE)

    await exchange.publish(  # labelled JSON but is not: must be parked, not left unacknowledged
        aio_pika.Message(b"not json at all", message_id="bad-1", content_type="application/json"),
        routing_key="publish.requested.v2.x",
    )
    envelope = publisher.envelope(good)
    unknown: dict[str, aio_pika.abc.FieldValue] = {
        **envelope.headers,
        "cloudEvents_type": "com.herald.publish.requested.v9",
    }
    await exchange.publish(
        aio_pika.Message(envelope.body, headers=unknown, message_id="bad-2", content_type="application/json"),
        routing_key="publish.requested.v2.x",
    )
    await publisher.publish(good)

    await eventually(immediately(lambda: received), within=10, what="the good event received")
    assert received[0].event == good

    parking = await channel.declare_queue(f"{name}.dead", passive=True)
    parked = {message.message_id or "": message for message in await take(parking, 2)}
    assert "CloudEvents" in str(parked["bad-1"].headers[PARKED_REASON_HEADER])
    assert "v9" in str(parked["bad-2"].headers[PARKED_REASON_HEADER])
    assert parked["bad-1"].body == b"not json at all"  # kept as it was, for replay after a fix

    reports: list[dict[str, object]] = [json.loads(message.body) for message in await take(watch, 2)]
    assert {r["original_message_id"] for r in reports} == {"bad-1", "bad-2"}
    assert {r["category"] for r in reports} == {"malformed", "unknown_type"}
    await connection.close()


@pytest.fixture
async def broker(amqp_url: str) -> AsyncIterator[RabbitBroker]:
    broker = build_broker(ServiceSettings(amqp_url=amqp_url, service_name="kit-test"), CollectorRegistry())
    await broker.connect()
    await declare_exchanges(broker)
    yield broker
    await broker.stop()


async def _consume(
    broker: RabbitBroker, amqp_url: str, handle: DeliveryHandler, prefetch: int = 10
) -> Running[ConcurrentConsumer]:
    """A fresh work queue bound to ``<its name>.test``, consumed by ``handle``."""
    name = f"kit-concurrent-{uuid.uuid4().hex[:6]}"
    await declare_work_queue(broker, name, [f"{name}.test"], delivery_limit=2)
    return start(ConcurrentConsumer(amqp_url, name, prefetch=prefetch, handle=handle))


async def _send(broker: RabbitBroker, queue: str, count: int) -> None:
    for n in range(count):
        await broker.publish(
            b"{}", exchange=EVENTS_EXCHANGE, routing_key=f"{queue}.test", message_id=f"m{n}", persist=True
        )


async def test_a_message_that_keeps_crashing_the_consumer_is_parked_as_poison(
    amqp_url: str, broker: RabbitBroker
) -> None:
    attempts = 0

    async def crash(message: Delivery) -> None:
        nonlocal attempts
        attempts += 1
        raise RuntimeError("boom")

    running = await _consume(broker, amqp_url, crash)
    name = running.consumer.queue
    try:
        await _send(broker, name, 1)
        connection = await aio_pika.connect_robust(amqp_url)
        channel = await connection.channel()
        parking = await channel.declare_queue(f"{name}.dead", passive=True)
        [message] = await take(parking, 1)
        assert message.headers["x-first-death-reason"] == "delivery_limit"
        assert attempts == 3  # requeued by the consumer each time, until the queue's limit of 2 redeliveries
        await connection.close()
        assert running.consumer.in_flight == 0
    finally:
        await running.close()


async def test_deliveries_are_handled_concurrently_within_the_prefetch_window(
    amqp_url: str, broker: RabbitBroker
) -> None:
    in_flight = 0
    peak = 0
    release = asyncio.Event()

    async def slow(message: Delivery) -> None:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await release.wait()
        in_flight -= 1
        await message.ack()

    running = await _consume(broker, amqp_url, slow, prefetch=3)
    name = running.consumer.queue
    try:
        await _send(broker, name, 20)

        async def three_taken_seventeen_held() -> bool:
            return in_flight == 3 and await ready(amqp_url, name) == 17

        # all 20 accounted for: 3 delivered, 17 held by the broker until an ack (so no fourth can be on its way)
        await eventually(three_taken_seventeen_held)
        assert peak == 3
        release.set()
        await eventually(immediately(lambda: in_flight == 0 and running.consumer.in_flight == 0))
    finally:
        await running.close()
    assert await ready(amqp_url, name) == 0


async def test_on_stop_the_deliveries_in_their_handlers_finish_and_nothing_more_is_taken(
    amqp_url: str, broker: RabbitBroker
) -> None:
    started: list[str] = []
    finished: list[str] = []
    release = asyncio.Event()

    async def slow(message: Delivery) -> None:
        started.append(message.message_id or "")
        await release.wait()
        finished.append(message.message_id or "")
        await message.ack()

    running = await _consume(broker, amqp_url, slow, prefetch=4)
    name = running.consumer.queue
    await _send(broker, name, 10)
    await eventually(immediately(lambda: len(started) == 4))
    running.stop.set()  # as the runtime does on SIGTERM: the consumer is cancelled, its handlers go on
    await asyncio.sleep(0.2)
    assert not running.task.done()  # still waiting for the four in their handlers
    release.set()
    await asyncio.wait_for(running.task, 10)
    assert len(started) == 4
    assert sorted(finished) == sorted(started)  # each finished and was acknowledged ...
    assert await ready(amqp_url, name) == 6  # ... and the rest stayed in the queue for the next consumer


async def test_after_the_broker_drops_the_connection_it_reconnects_and_loses_nothing(
    amqp_url: str, broker: RabbitBroker
) -> None:
    handled: list[str] = []

    async def record(message: Delivery) -> None:
        handled.append(message.message_id or "")
        await message.ack()

    running = await _consume(broker, amqp_url, record)
    name = running.consumer.queue
    try:
        await _send(broker, name, 3)
        await eventually(immediately(lambda: len(handled) == 3))
        assert await close_connections_named(amqp_url, running.consumer.connection_name) == 1
        await _send(broker, name, 3)
        await eventually(immediately(lambda: len(handled) == 6))
        assert await running.consumer.ready()
    finally:
        await running.close()
    assert await ready(amqp_url, name) == 0
