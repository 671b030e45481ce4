"""Acknowledgements in runs (herald.kit.acks): never covering a delivery still in its handler, every delivery settled
exactly once, fewer frames than deliveries when they finish together; on the real RabbitMQ, a concurrent consumer
whose handlers finish out of order leaves nothing unacknowledged and nothing to redeliver, and the broker never
closes the channel over an unknown tag."""

from __future__ import annotations

import asyncio
import random
import uuid
from dataclasses import dataclass, field

import aio_pika
import pytest
from aiormq.abc import AbstractChannel
from hypothesis import given, settings
from hypothesis import strategies as st

from herald.kit.acks import AckRuns


@dataclass(eq=False)  # hashed by identity, as a channel is
class Broker:
    """The broker's side of one channel: which tags are unacknowledged, checked as RabbitMQ checks them."""

    delivered: int
    unacked: set[int] = field(default_factory=set)
    frames: list[tuple[int, bool]] = field(default_factory=list)
    is_closed: bool = False

    def __post_init__(self) -> None:
        self.unacked = set(range(1, self.delivered + 1))

    async def basic_ack(self, delivery_tag: int, multiple: bool = False, wait: bool = True) -> None:
        # RabbitMQ closes the channel (PRECONDITION_FAILED, unknown delivery tag) if the tag is not outstanding.
        assert delivery_tag in self.unacked, f"unknown delivery tag {delivery_tag}"
        self.frames.append((delivery_tag, multiple))
        covered = {t for t in self.unacked if t <= delivery_tag} if multiple else {delivery_tag}
        self.unacked -= covered

    def settle_alone(self, tag: int) -> None:
        assert tag in self.unacked
        self.unacked.discard(tag)


@dataclass
class Delivery:
    channel: AbstractChannel
    delivery_tag: int


def deliveries(broker: Broker) -> list[Delivery]:
    channel: AbstractChannel = broker  # type: ignore[assignment]  # the broker's side stands in for the channel
    return [Delivery(channel, tag) for tag in range(1, broker.delivered + 1)]


@pytest.mark.fast
async def test_deliveries_finishing_together_are_acknowledged_with_one_frame() -> None:
    broker = Broker(8)
    runs = AckRuns()
    await asyncio.gather(*(runs.ack(d) for d in deliveries(broker)))
    assert broker.frames == [(8, True)]
    assert not broker.unacked


@pytest.mark.fast
async def test_a_delivery_still_in_its_handler_is_never_covered() -> None:
    broker = Broker(4)
    first, second, third, fourth = deliveries(broker)
    runs = AckRuns()
    await asyncio.gather(runs.ack(second), runs.ack(third))  # the first is still being handled
    assert broker.unacked == {1, 4}
    assert all(not multiple for _, multiple in broker.frames)
    broker.settle_alone(4)  # requeued by its handler
    runs.settled(fourth)
    await runs.ack(first)  # the run 1..4 is now settled: one multiple ack on the only outstanding tag
    assert broker.frames[-1] == (1, True)
    assert not broker.unacked


@pytest.mark.fast
@settings(max_examples=200, deadline=None)
@given(
    order=st.permutations(range(1, 25)),
    alone=st.sets(st.integers(1, 24), max_size=6),
    together=st.lists(st.integers(1, 4), min_size=24, max_size=24),
)
async def test_any_completion_order_settles_every_delivery_once_and_never_an_unknown_tag(
    order: list[int], alone: set[int], together: list[int]
) -> None:
    """Handlers finish in any order, some in the same loop iteration, some settling on their own (park, requeue)."""
    broker = Broker(24)
    runs = AckRuns()
    by_tag = {d.delivery_tag: d for d in deliveries(broker)}
    position = 0
    for size in together:
        group = order[position : position + size]
        position += size
        acking = []
        for tag in group:
            if tag in alone:
                broker.settle_alone(tag)
                runs.settled(by_tag[tag])
            else:
                acking.append(runs.ack(by_tag[tag]))
        await asyncio.gather(*acking)  # the broker's own assertion fails on any unknown tag
        if position >= len(order):
            break
    assert not broker.unacked
    assert len(broker.frames) <= 24 - len(alone)


@pytest.mark.fast
async def test_nothing_is_sent_on_a_closed_channel() -> None:
    broker = Broker(2)
    broker.is_closed = True
    runs = AckRuns()
    await asyncio.gather(*(runs.ack(d) for d in deliveries(broker)))
    assert broker.frames == []


async def test_a_concurrent_consumer_acknowledged_in_runs_leaves_nothing_behind(amqp_url: str) -> None:
    """200 messages, 20 handled at once with random durations: all acknowledged, in fewer frames, none redelivered."""
    count = 200
    name = f"kit-acks-{uuid.uuid4().hex[:6]}"
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        queue = await channel.declare_queue(name, durable=True, arguments={"x-queue-type": "quorum"})
        for n in range(count):
            await channel.default_exchange.publish(aio_pika.Message(str(n).encode()), routing_key=name)
        consuming = await connection.channel()
        await consuming.set_qos(prefetch_count=20)
        runs = AckRuns()
        handled: set[bytes] = set()
        done = asyncio.Event()

        async def handle(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            await asyncio.sleep(random.choice([0, 0, 0.001, 0.005]))  # finish out of order, often together
            handled.add(message.body)
            await runs.ack(message)
            if len(handled) == count:
                done.set()

        await (await consuming.get_queue(name)).consume(handle)
        await asyncio.wait_for(done.wait(), 30)
        await asyncio.sleep(0.2)  # the last frames written
        assert not consuming.is_closed  # RabbitMQ closes a channel that acknowledges an unknown tag
        await consuming.close()  # anything unacknowledged would now go back to the queue
        await asyncio.sleep(0.2)
        declared = await channel.declare_queue(name, passive=True)
        assert declared.declaration_result.message_count == 0
        assert runs.sent < count
        await queue.delete(if_unused=False, if_empty=False)
    finally:
        await connection.close()
