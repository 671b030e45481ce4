"""The batch consumer on the real RabbitMQ: batches bounded in size and wait, exceptions settled one by one, the rest
acknowledged with one multiple ack, and a batch that fails redelivered without the batches committed before it."""

import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field

import aio_pika
import pytest
from faststream.rabbit import RabbitBroker
from prometheus_client import CollectorRegistry

from herald.kit.amqp_consumer import Delivery
from herald.kit.batch import BatchConsumer, BatchWindow, Settle
from herald.kit.broker import build_broker, declare_exchanges
from herald.kit.consumers import declare_work_queue
from herald.kit.settings import ServiceSettings
from tests.support.consuming import Running, close_connections_named, start
from tests.support.eventually import eventually, immediately
from tests.support.queues import ready_and_parked


@dataclass
class Recorder:
    """A handler that "commits" message ids, with scripted verdicts or failures per call."""

    verdicts: list[dict[int, Settle]] = field(default_factory=list)
    failures: int = 0
    batches: list[list[str]] = field(default_factory=list)
    committed: list[str] = field(default_factory=list)

    async def handle(self, batch: Sequence[Delivery]) -> Mapping[int, Settle]:
        ids = [m.message_id or "" for m in batch]
        self.batches.append(ids)
        if self.failures:
            self.failures -= 1
            raise RuntimeError("the database went away mid-batch")
        verdicts = self.verdicts.pop(0) if self.verdicts else {}
        self.committed += [i for n, i in enumerate(ids) if verdicts.get(n, Settle.ACK) is Settle.ACK]
        return verdicts


@dataclass
class Queue:
    name: str
    amqp_url: str

    async def publish(self, ids: Sequence[str]) -> None:
        connection = await aio_pika.connect(self.amqp_url)
        try:
            channel = await connection.channel(publisher_confirms=True)
            for message_id in ids:
                message = aio_pika.Message(message_id.encode(), message_id=message_id, delivery_mode=2)
                await channel.default_exchange.publish(message, routing_key=self.name)
        finally:
            await connection.close()

    async def counts(self) -> tuple[int, int]:
        """Messages in the queue (ready, i.e. not held unacknowledged by a consumer) and in its parking queue."""
        return await ready_and_parked(self.amqp_url, self.name)


@pytest.fixture
async def queue(amqp_url: str) -> AsyncIterator[Queue]:
    name = f"kit-batch-{uuid.uuid4().hex[:6]}"
    settings = ServiceSettings(amqp_url=amqp_url, service_name="kit-test")
    broker: RabbitBroker = build_broker(settings, CollectorRegistry())
    await broker.connect()
    await declare_exchanges(broker)
    await declare_work_queue(broker, name, [])
    yield Queue(name, amqp_url)
    connection = await aio_pika.connect(amqp_url)
    channel = await connection.channel()
    for queue_name in (name, f"{name}.dead"):
        await channel.queue_delete(queue_name)
    await connection.close()
    await broker.stop()


async def _until(condition: Callable[[], object]) -> None:
    await eventually(immediately(condition))


def _start(queue: Queue, recorder: Recorder, window: BatchWindow, prefetch: int = 100) -> Running[BatchConsumer]:
    return start(BatchConsumer(queue.amqp_url, queue.name, prefetch=prefetch, window=window, handle=recorder.handle))


async def test_exceptions_are_settled_one_by_one_and_the_rest_acknowledged_once(queue: Queue) -> None:
    ids = [f"m{i}" for i in range(10)]
    await queue.publish(ids)  # waiting before the consumer starts: one full batch
    recorder = Recorder(verdicts=[{3: Settle.REJECT, 5: Settle.REQUEUE}])
    running = _start(queue, recorder, BatchWindow(max_size=10, max_wait=5))
    try:
        await _until(lambda: "m5" in recorder.committed)  # requeued, delivered again, then acknowledged
        assert recorder.batches[0] == ids
        assert await queue.counts() == (0, 1)  # everything settled: m3 dead-lettered to the parking queue
    finally:
        await running.close()
    assert sorted(recorder.committed) == sorted(i for i in ids if i != "m3")
    assert recorder.committed.count("m5") == 1
    assert await queue.counts() == (0, 1)  # nothing was left unacknowledged to come back after the consumer stopped


async def test_a_lone_message_is_handled_after_the_wait_in_a_batch_of_its_own(queue: Queue) -> None:
    await queue.publish(["solo"])
    recorder = Recorder()
    running = _start(queue, recorder, BatchWindow(max_size=100, max_wait=0.05))
    try:
        await _until(lambda: recorder.committed == ["solo"])
        assert recorder.batches == [["solo"]]
    finally:
        await running.close()


async def test_a_failed_batch_is_redelivered_without_the_batches_committed_before_it(queue: Queue) -> None:
    recorder = Recorder()
    running = _start(queue, recorder, BatchWindow(max_size=5, max_wait=5), prefetch=20)
    try:
        first = [f"a{i}" for i in range(5)]
        await queue.publish(first)
        await _until(lambda: recorder.committed == first)
        recorder.failures = 1  # the next batch fails part-way: nothing of it is acknowledged
        second = [f"b{i}" for i in range(5)]
        await queue.publish(second)
        await _until(lambda: sorted(recorder.committed) == sorted(first + second))
    finally:
        await running.close()
    assert recorder.batches[1] == second  # the attempt that failed ...
    assert sorted(recorder.batches[2]) == sorted(second)  # ... and its redelivery, alone
    assert len(recorder.batches) == 3  # the committed batch never came back
    assert await queue.counts() == (0, 0)


async def test_after_the_broker_drops_the_connection_it_reconnects_and_loses_nothing(queue: Queue) -> None:
    recorder = Recorder()
    running = _start(queue, recorder, BatchWindow(max_size=3, max_wait=5), prefetch=10)
    try:
        await queue.publish(["c0", "c1", "c2"])
        await _until(lambda: recorder.committed == ["c0", "c1", "c2"])
        assert await close_connections_named(queue.amqp_url, running.consumer.connection_name) == 1
        await queue.publish(["c3", "c4", "c5"])
        await _until(lambda: sorted(recorder.committed) == [f"c{i}" for i in range(6)])
    finally:
        await running.close()
    assert len(recorder.committed) == 6  # each once
    assert await queue.counts() == (0, 0)
