"""Consuming a work queue in batches: gather deliveries, handle them together, settle them with one ``basic.ack``.

:class:`BatchConsumer` reads one queue on a connection of its own (:class:`herald.kit.amqp_consumer.QueueConsumer`:
no FastStream layers per delivery, reconnection after a pause, everything unacknowledged redelivered). Deliveries are
gathered until ``max_size`` have arrived or ``max_wait`` seconds have passed since the first one, whichever comes
first, so a lone message waits at most ``max_wait``. The handler gets the batch and answers how to settle each
message; the consumer then settles the exceptions one by one (reject, requeue) and acknowledges everything else with
a single ``basic.ack(multiple=True)`` on the highest delivery tag.

That multiple acknowledgement covers exactly this batch: delivery tags grow in arrival order on a channel, batches
are taken in arrival order and handled one at a time, and every earlier batch is already settled. A batch that the
handler cannot finish (it raises) is left unacknowledged: the connection is closed, the broker redelivers it, and
consuming starts again after a pause, so the handler must be idempotent (dedup by event id). A handler that raises
:class:`~herald.kit.amqp_consumer.ConsumerAbandoned` stops the consumer at once. The prefetch window bounds what is
held.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum

import aiormq
from aiormq.abc import DeliveredMessage

from herald.kit.amqp_consumer import Delivery, QueueConsumer

log = logging.getLogger(__name__)


class Settle(Enum):
    """How to settle one delivery of a batch (anything not named is acknowledged)."""

    ACK = "ack"
    REJECT = "reject"
    """Dead-letter it (``basic.reject``, no requeue): the queue's DLX routes it to the parking queue."""
    REQUEUE = "requeue"
    """Give it back to the queue to be delivered again (``basic.nack``, requeue)."""


BatchHandler = Callable[[Sequence[Delivery]], Awaitable[Mapping[int, Settle]]]
"""Handles a batch; returns the settlement of the deliveries (by index) that must not simply be acknowledged.
Raising leaves the whole batch unacknowledged: the consumer reconnects and the broker redelivers it."""


@dataclass(frozen=True)
class BatchWindow:
    max_size: int
    """Deliveries per batch at most."""
    max_wait: float
    """Seconds the first delivery of a batch waits for company: the latency a batch adds, at most."""


class BatchConsumer(QueueConsumer):
    """Consumes ``queue`` (declared elsewhere, passively opened here) and feeds ``handle`` in batches."""

    def __init__(self, amqp_url: str, queue: str, *, prefetch: int, window: BatchWindow, handle: BatchHandler) -> None:
        if prefetch < window.max_size:
            raise ValueError("the prefetch window must hold at least one batch")
        super().__init__(amqp_url, queue, prefetch=prefetch, kind="batch")
        self._window = window
        self._handle = handle
        self._pending: list[Delivery] = []

    @property
    def pending(self) -> int:
        """Deliveries received and not yet handed to the handler."""
        return len(self._pending)

    async def _session(self, stop: asyncio.Event) -> None:
        self._pending.clear()  # what a lost session held is back in the queue
        await super()._session(stop)

    async def _on_delivery(self, message: DeliveredMessage) -> None:
        self._pending.append(Delivery(message))
        if len(self._pending) == 1 or len(self._pending) >= self._window.max_size:
            self._wake.set()

    async def _serve(self, stop: asyncio.Event, lost: Callable[[], bool]) -> None:
        while not stop.is_set():
            await self._gather(stop, lost)
            if lost():
                return
            await self._next_batch()

    async def _finish(self, lost: Callable[[], bool]) -> None:
        while self._pending and not lost():
            await self._next_batch()

    async def _gather(self, stop: asyncio.Event, lost: Callable[[], bool]) -> None:
        """Wait for a first delivery, then for a full batch or the end of the wait, whichever comes first (or for
        ``stop``, or the connection to be lost)."""
        wake = self._wake
        while not self._pending and not stop.is_set() and not lost():
            wake.clear()
            await wake.wait()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._window.max_wait
        while len(self._pending) < self._window.max_size and not stop.is_set() and not lost():
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            wake.clear()
            try:
                async with asyncio.timeout(remaining):
                    await wake.wait()
            except TimeoutError:
                return

    async def _next_batch(self) -> None:
        size = self._window.max_size
        batch, self._pending = self._pending[:size], self._pending[size:]
        if not batch:
            return
        verdicts = await self._handle(batch)  # raising leaves the batch unacknowledged (see QueueConsumer.run)
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
