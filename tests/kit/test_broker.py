"""Event publishing on the real RabbitMQ: persistent, confirmed, mandatory, CloudEvents headers."""

import dataclasses
import uuid
from collections.abc import AsyncIterator

import aio_pika
import pytest
from faststream.rabbit import ExchangeType, RabbitBroker, RabbitExchange
from prometheus_client import CollectorRegistry

from herald.contracts.envelope import from_amqp
from herald.contracts.examples import example_for
from herald.contracts.publishing import PublishRequested
from herald.contracts.routing import EVENTS_EXCHANGE
from herald.kit.broker import EventPublisher, PublishNotConfirmed, build_broker, declare_exchanges
from herald.kit.settings import ServiceSettings
from tests.support.queues import take


@pytest.fixture
async def broker(amqp_url: str) -> AsyncIterator[RabbitBroker]:
    broker = build_broker(ServiceSettings(amqp_url=amqp_url, service_name="kit-test"), CollectorRegistry())
    await broker.connect()
    await declare_exchanges(broker)
    yield broker
    await broker.stop()


@pytest.fixture
async def bound_queue(amqp_url: str, broker: RabbitBroker) -> AsyncIterator[aio_pika.abc.AbstractQueue]:
    connection = await aio_pika.connect_robust(amqp_url)
    channel = await connection.channel()
    queue = await channel.declare_queue(exclusive=True)
    await queue.bind(EVENTS_EXCHANGE, routing_key="publish.requested.#")
    yield queue
    await connection.close()


async def _drain(queue: aio_pika.abc.AbstractQueue, count: int) -> list[aio_pika.abc.AbstractIncomingMessage]:
    return await take(queue, count, ack=True)


async def test_published_event_is_persistent_and_readable(
    broker: RabbitBroker, bound_queue: aio_pika.abc.AbstractQueue
) -> None:
    publisher = EventPublisher(broker, source="/herald/kit-test", timeout=5)
    event = example_for(PublishRequested)
    event_id = await publisher.publish(event)
    [message] = await _drain(bound_queue, 1)
    assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert message.message_id == event_id
    assert message.headers["cloudEvents_id"] == event_id
    assert message.content_type == "application/json"
    assert from_amqp(message.body, message.headers) == event
    # What RabbitBroker.publish used to add: the service's app_id, a timestamp, a correlation id.
    assert message.app_id == "kit-test"
    assert message.timestamp is not None
    assert message.correlation_id


async def test_publish_envelope_keeps_the_given_correlation_id_and_type(
    broker: RabbitBroker, bound_queue: aio_pika.abc.AbstractQueue
) -> None:
    publisher = EventPublisher(broker, source="/herald/kit-test", timeout=5)
    envelope = publisher.envelope(example_for(PublishRequested))
    await publisher.publish_envelope(envelope, correlation_id="corr-1")
    [message] = await _drain(bound_queue, 1)
    assert (message.correlation_id, message.type) == ("corr-1", envelope.type)


async def test_a_publisher_outlives_a_broker_restart(
    broker: RabbitBroker, bound_queue: aio_pika.abc.AbstractQueue
) -> None:
    # The exchange objects it publishes through belong to the broker's channel: a new channel needs new ones.
    publisher = EventPublisher(broker, source="/herald/kit-test", timeout=5)
    first = await publisher.publish(example_for(PublishRequested))
    await broker.stop()
    await broker.connect()
    second = await publisher.publish(example_for(PublishRequested))
    assert [m.message_id for m in await _drain(bound_queue, 2)] == [first, second]


async def test_unroutable_publish_raises(broker: RabbitBroker) -> None:
    # An exchange of its own: other tests' queues bound with "#" on herald.events would route anything.
    lonely = RabbitExchange(f"kit-test-lonely-{uuid.uuid4().hex[:6]}", type=ExchangeType.TOPIC, auto_delete=True)
    await broker.declare_exchange(lonely)
    publisher = EventPublisher(broker, source="/herald/kit-test", timeout=5)
    envelope = publisher.envelope(example_for(PublishRequested))
    unroutable = dataclasses.replace(envelope, exchange=lonely.name, routing_key="nobody.listens.here")
    with pytest.raises(PublishNotConfirmed):
        await publisher.publish_envelope(unroutable)


async def test_publish_many_confirms_every_message(
    broker: RabbitBroker, bound_queue: aio_pika.abc.AbstractQueue
) -> None:
    publisher = EventPublisher(broker, source="/herald/kit-test", timeout=5)
    envelopes = [publisher.envelope(example_for(PublishRequested)) for _ in range(250)]
    await publisher.publish_many(envelopes)
    received = await _drain(bound_queue, 250)
    assert sorted(m.message_id or "" for m in received) == sorted(e.message_id for e in envelopes)
