"""Work queues with parking lots, and the intake that parks bad input, on the real RabbitMQ."""

import asyncio
import json
import uuid
from collections.abc import AsyncIterator

import aio_pika
import pytest
from faststream import AckPolicy
from faststream.rabbit import Channel, RabbitBroker
from faststream.rabbit.annotations import RabbitMessage
from prometheus_client import CollectorRegistry

from herald.contracts.envelope import ReceivedEvent
from herald.contracts.examples import example_for
from herald.contracts.operations import MessageParked
from herald.contracts.publishing import PublishRequested
from herald.contracts.routing import EVENTS_EXCHANGE, binding_key
from herald.kit.broker import EventPublisher, build_broker, declare_exchanges
from herald.kit.consumers import PARKED_REASON_HEADER, Intake, declare_work_queue, work_queue
from herald.kit.settings import ServiceSettings
from tests.support.eventually import eventually, immediately
from tests.support.queues import take


@pytest.fixture
async def setup(amqp_url: str) -> AsyncIterator[tuple[RabbitBroker, str, list[ReceivedEvent]]]:
    name = f"kit-intake-{uuid.uuid4().hex[:6]}"
    broker = build_broker(ServiceSettings(amqp_url=amqp_url, service_name="kit-test"), CollectorRegistry())
    events = EventPublisher(broker, source="/herald/kit-test", timeout=5)
    intake = Intake(broker, events, name)
    received: list[ReceivedEvent] = []

    @broker.subscriber(work_queue(name), channel=Channel(prefetch_count=5), ack_policy=AckPolicy.MANUAL)
    async def handle(message: RabbitMessage) -> None:
        event = await intake.read(message)
        if event is not None:
            received.append(event)
            await message.ack()

    await broker.connect()
    await declare_exchanges(broker)
    await declare_work_queue(broker, name, [binding_key(PublishRequested)])
    await broker.start()
    yield broker, name, received
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


async def test_a_message_that_keeps_crashing_the_consumer_is_parked_as_poison(amqp_url: str) -> None:
    name = f"kit-poison-{uuid.uuid4().hex[:6]}"
    broker = build_broker(ServiceSettings(amqp_url=amqp_url, service_name="kit-test"), CollectorRegistry())
    attempts = 0

    @broker.subscriber(work_queue(name), ack_policy=AckPolicy.NACK_ON_ERROR)
    async def crash(message: RabbitMessage) -> None:
        nonlocal attempts
        attempts += 1
        raise RuntimeError("boom")

    await broker.connect()
    await declare_exchanges(broker)
    await declare_work_queue(broker, name, ["poison.test"], delivery_limit=2)
    await broker.start()
    try:
        await broker.publish(b"{}", exchange=EVENTS_EXCHANGE, routing_key="poison.test", persist=True)
        connection = await aio_pika.connect_robust(amqp_url)
        channel = await connection.channel()
        parking = await channel.declare_queue(f"{name}.dead", passive=True)
        [message] = await take(parking, 1)
        assert message.headers["x-first-death-reason"] == "delivery_limit"
        assert attempts == 3
        await connection.close()
    finally:
        await broker.stop()


async def test_subscribers_honour_their_prefetch_window(amqp_url: str) -> None:
    name = f"kit-prefetch-{uuid.uuid4().hex[:6]}"
    broker = build_broker(ServiceSettings(amqp_url=amqp_url, service_name="kit-test"), CollectorRegistry())
    in_flight = 0
    peak = 0
    release = asyncio.Event()

    @broker.subscriber(work_queue(name), channel=Channel(prefetch_count=3), ack_policy=AckPolicy.MANUAL)
    async def slow(message: RabbitMessage) -> None:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await release.wait()
        in_flight -= 1
        await message.ack()

    await broker.connect()
    await declare_exchanges(broker)
    await declare_work_queue(broker, name, ["prefetch.test"])
    await broker.start()
    try:
        for _ in range(20):
            await broker.publish(b"{}", exchange=EVENTS_EXCHANGE, routing_key="prefetch.test", persist=True)
        connection = await aio_pika.connect_robust(amqp_url)
        channel = await connection.channel()

        async def three_taken_seventeen_held() -> bool:
            ready = (await channel.declare_queue(name, passive=True)).declaration_result.message_count
            return in_flight == 3 and ready == 17

        # all 20 accounted for: 3 delivered, 17 held by the broker until an ack (so no fourth can be on its way)
        await eventually(three_taken_seventeen_held)
        await connection.close()
        assert peak == 3
        release.set()
    finally:
        await broker.stop()
