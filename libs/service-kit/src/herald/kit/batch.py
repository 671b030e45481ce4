"""Consuming a work queue in batches: gather deliveries, handle them together, settle them with one ``basic.ack``.

:class:`BatchConsumer` reads one queue with aiormq (the AMQP client under aio-pika and FastStream) on a connection
of its own: no FastStream dependency injection and no aio-pika message object per delivery, which at thousands of
messages a second cost more than the work. If the connection drops, everything unacknowledged goes back to the
queue and the consumer reconnects after a pause. Deliveries are gathered
until ``max_size`` have arrived or ``max_wait`` seconds have passed since the first one, whichever comes first, so a
lone message waits at most ``max_wait``. The handler gets the batch and answers how to settle each message; the
consumer then settles the exceptions one by one (reject, requeue) and acknowledges everything else with a single
``basic.ack(multiple=True)`` on the highest delivery tag.

That multiple acknowledgement covers exactly this batch: delivery tags grow in arrival order on a channel, batches
are taken in arrival order and handled one at a time, and every earlier batch is already settled. A batch that the
handler cannot finish (it raises) is left unacknowledged: when the consumer stops, the channel closes and the broker
redelivers it, so the handler must be idempotent (dedup by event id). The prefetch window bounds what is held.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

import aiormq
from aiormq.abc import AbstractChannel, AbstractConnection, DeliveredMessage

from herald.contracts.envelope import ReceivedEvent
from herald.kit.consumers import Unreadable, read_checked

log = logging.getLogger(__name__)

RESTART_PAUSE_SECONDS = 1.0


class BatchAbandoned(Exception):
    """Raised by a handler that gives up on a batch because the service is stopping (e.g. PostgreSQL is away):
    the consumer stops at once and leaves that batch, and everything after it, to be redelivered."""


class Settle(Enum):
    """How to settle one delivery of a batch (anything not named is acknowledged)."""

    ACK = "ack"
    REJECT = "reject"
    """Dead-letter it (``basic.reject``, no requeue): the queue's DLX routes it to the parking queue."""
    REQUEUE = "requeue"
    """Give it back to the queue to be delivered again (``basic.nack``, requeue)."""


class Delivery:
    """One delivery: what a handler reads (body, headers, properties) and what settling it needs (tag, channel)."""

    __slots__ = (
        "body",
        "channel",
        "content_type",
        "correlation_id",
        "delivery_tag",
        "headers",
        "message_id",
        "routing_key",
    )

    def __init__(self, message: DeliveredMessage) -> None:
        properties = message.header.properties
        self.body: bytes = message.body
        self.headers: dict[str, Any] = dict(properties.headers or {})
        self.message_id: str | None = properties.message_id
        self.correlation_id: str | None = properties.correlation_id
        self.content_type: str | None = properties.content_type
        self.routing_key: str = message.routing_key or ""
        self.delivery_tag: int = message.delivery_tag or 0
        self.channel: AbstractChannel = message.channel

    def read(self) -> ReceivedEvent | Unreadable:
        """The event this delivery carries, checked as every consumer's intake checks it (:func:`read_checked`)."""
        return read_checked(
            self.body,
            self.headers,
            content_type=self.content_type,
            message_id=self.message_id,
            correlation_id=self.correlation_id,
        )


BatchHandler = Callable[[Sequence[Delivery]], Awaitable[Mapping[int, Settle]]]
"""Handles a batch; returns the settlement of the deliveries (by index) that must not simply be acknowledged.
Raising leaves the whole batch unacknowledged (it is redelivered after the consumer stops)."""


@dataclass(frozen=True)
class BatchWindow:
    max_size: int
    """Deliveries per batch at most."""
    max_wait: float
    """Seconds the first delivery of a batch waits for company: the latency a batch adds, at most."""


class BatchConsumer:
    """Consumes ``queue`` (declared elsewhere, passively opened here) and feeds ``handle`` in batches."""

    def __init__(self, amqp_url: str, queue: str, *, prefetch: int, window: BatchWindow, handle: BatchHandler) -> None:
        if prefetch < window.max_size:
            raise ValueError("the prefetch window must hold at least one batch")
        self._amqp_url = amqp_url
        self._queue_name = queue
        self._prefetch = prefetch
        self._window = window
        self._handle = handle
        self._pending: list[Delivery] = []
        self._arrived = asyncio.Event()
        self._connection: AbstractConnection | None = None
        self.connection_name = f"herald-batch-consumer:{queue}"
        """How the connection is named on the broker (management UI, ``rabbitmqctl list_connections``)."""

    @property
    def pending(self) -> int:
        """Deliveries received and not yet handed to the handler."""
        return len(self._pending)

    async def ready(self) -> bool:
        """Readiness: the consumer's connection is open."""
        return self._connection is not None and not self._connection.is_closed

    async def _on_delivery(self, message: DeliveredMessage) -> None:
        self._pending.append(Delivery(message))
        if len(self._pending) == 1 or len(self._pending) >= self._window.max_size:
            self._arrived.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop``, then hand what was already received to the handler once more and close.

        If the handler fails unexpectedly, the connection is closed (the broker requeues everything unacknowledged:
        no later multiple ack may cover a batch that was not committed) and consuming starts again after a pause.
        """
        while not stop.is_set():
            try:
                await self._session(stop)
                return
            except BatchAbandoned:
                log.warning("stopping with %d unacknowledged messages; the broker redelivers them", self.pending)
                return
            except Exception:
                log.exception("batch consumer failed; reconnecting (unacknowledged messages are redelivered)")
                self._pending.clear()
                try:
                    async with asyncio.timeout(RESTART_PAUSE_SECONDS):
                        await stop.wait()
                except TimeoutError:
                    pass

    async def _session(self, stop: asyncio.Event) -> None:
        self._pending.clear()
        connection = self._connection = await aiormq.connect(
            self._amqp_url, client_properties={"connection_name": self.connection_name}
        )
        try:
            channel = await connection.channel()
            await channel.basic_qos(prefetch_count=self._prefetch)
            await channel.queue_declare(self._queue_name, passive=True)
            consume = await channel.basic_consume(self._queue_name, self._on_delivery, no_ack=False)

            def lost() -> bool:
                return channel.is_closed or connection.is_closed

            for closing in (channel.closing, connection.closing):
                closing.add_done_callback(lambda _: self._arrived.set())
            watcher = asyncio.create_task(self._wake_on(stop))
            try:
                while not stop.is_set():
                    await self._gather(stop, lost)
                    if lost():
                        raise ConnectionError("the batch consumer's connection or channel closed")
                    await self._next_batch()
            finally:
                watcher.cancel()
                if not lost() and consume.consumer_tag:
                    await self._stop_consuming(channel, consume.consumer_tag)
            while self._pending and not lost():
                await self._next_batch()
        finally:
            await connection.close()

    async def _stop_consuming(self, channel: AbstractChannel, tag: str) -> None:
        try:
            async with asyncio.timeout(5):
                await channel.basic_cancel(tag)
        except Exception as error:  # a closed channel consumes nothing anyway
            log.warning("could not cancel the batch consumer", extra={"error": repr(error)[:200]})

    async def _wake_on(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self._arrived.set()

    async def _gather(self, stop: asyncio.Event, lost: Callable[[], bool]) -> None:
        """Wait for a first delivery, then for a full batch or the end of the wait, whichever comes first (or for
        ``stop``, or the connection to be lost)."""
        while not self._pending and not stop.is_set() and not lost():
            self._arrived.clear()
            await self._arrived.wait()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._window.max_wait
        while len(self._pending) < self._window.max_size and not stop.is_set() and not lost():
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            self._arrived.clear()
            try:
                async with asyncio.timeout(remaining):
                    await self._arrived.wait()
            except TimeoutError:
                return

    async def _next_batch(self) -> None:
        size = self._window.max_size
        batch, self._pending = self._pending[:size], self._pending[size:]
        if not batch:
            return
        verdicts = await self._handle(batch)  # raising leaves the batch unacknowledged (see run)
        await settle(batch, verdicts)


async def settle(batch: Sequence[Delivery], verdicts: Mapping[int, Settle]) -> None:
    """Settle the exceptions one by one, then acknowledge the rest with one multiple ack per channel.

    A delivery whose channel has closed since cannot be settled: the broker has already put it back in the queue,
    and its redelivery is deduplicated by the handler.
    """
    last_ack: dict[int, Delivery] = {}
    for index, message in enumerate(batch):
        verdict = verdicts.get(index, Settle.ACK)
        if message.channel.is_closed:
            continue
        if verdict is Settle.REJECT:
            await message.channel.basic_reject(message.delivery_tag, requeue=False)
        elif verdict is Settle.REQUEUE:
            await message.channel.basic_nack(message.delivery_tag, requeue=True)
        else:
            last_ack[id(message.channel)] = message  # later deliveries have higher tags
    for message in last_ack.values():
        try:
            await message.channel.basic_ack(message.delivery_tag, multiple=True)
        except aiormq.exceptions.AMQPError:
            log.info("channel closed before the batch was acknowledged; the broker redelivers it (deduplicated)")
