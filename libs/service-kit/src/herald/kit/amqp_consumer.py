"""Consuming a work queue with aiormq, the AMQP client under aio-pika and FastStream, on a connection of its own.

At thousands of messages a second, FastStream's per-message layers (its message object, middlewares, context and
acknowledgement policy, on top of aio-pika's own message object) cost more than the work: a delivery taken and
acknowledged through a FastStream subscriber cost 160 us of CPU, against 55 us straight from aiormq (measured on the
2-core bench machine, 20,000 deliveries, prefetch 32). Herald's busy consumers therefore read their queue here:

* :class:`ConcurrentConsumer` hands each delivery to its handler as it arrives, up to the prefetch window at once
  (the publishers, whose deliveries wait on a platform's answer);
* :class:`herald.kit.batch.BatchConsumer` gathers deliveries into batches (the scheduler's outcomes, audit).

Both share :class:`QueueConsumer`: the queue (declared elsewhere) is opened passively with a prefetch window; if the
connection or channel is lost, everything unacknowledged goes back to the queue and the consumer reconnects after a
pause; on stop it cancels its consumer, finishes what it holds, then closes.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from typing import Any

import aiormq
from aiormq.abc import AbstractChannel, AbstractConnection, DeliveredMessage

from herald.contracts.envelope import ReceivedEvent
from herald.kit.consumers import Unreadable, read_checked

log = logging.getLogger(__name__)

RESTART_PAUSE_SECONDS = 1.0


class ConsumerAbandoned(Exception):
    """Raised by a handler that gives up because the service is stopping (e.g. PostgreSQL is away): the consumer
    stops at once and leaves what it holds to be redelivered."""


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

    async def ack(self) -> None:
        """Acknowledge this delivery alone. Nothing is sent if its channel has closed: the broker requeued it."""
        if not self.channel.is_closed:
            await self.channel.basic_ack(self.delivery_tag)

    async def requeue(self) -> None:
        """Give it back to the queue (``basic.nack`` with requeue), unless its channel has closed (requeued already)."""
        if not self.channel.is_closed:
            await self.channel.basic_nack(self.delivery_tag, requeue=True)


class QueueConsumer(ABC):
    """Consumes one queue on its own connection; subclasses decide what happens to the deliveries."""

    def __init__(self, amqp_url: str, queue: str, *, prefetch: int, kind: str) -> None:
        self._amqp_url = amqp_url
        self.queue = queue
        self._prefetch = prefetch
        self._connection: AbstractConnection | None = None
        self._wake = asyncio.Event()
        """Set when the session must look up: a delivery a subclass waits for, ``stop``, or the connection lost."""
        self.connection_name = f"herald-{kind}-consumer:{queue}"
        """How the connection is named on the broker (management UI, ``rabbitmqctl list_connections``)."""

    async def ready(self) -> bool:
        """Readiness: the consumer's connection is open."""
        return self._connection is not None and not self._connection.is_closed

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop``, then finish what was received and close.

        If the connection is lost or the subclass fails unexpectedly, the connection is closed (the broker requeues
        everything unacknowledged) and consuming starts again after a pause.
        """
        while not stop.is_set():
            try:
                await self._session(stop)
                return
            except ConsumerAbandoned:
                log.warning("consumer abandoned; the broker redelivers what it held", extra={"queue": self.queue})
                return
            except Exception:
                log.exception("consumer failed; reconnecting (unacknowledged messages are redelivered)")
                try:
                    async with asyncio.timeout(RESTART_PAUSE_SECONDS):
                        await stop.wait()
                except TimeoutError:
                    pass

    async def _session(self, stop: asyncio.Event) -> None:
        connection = self._connection = await aiormq.connect(
            self._amqp_url, client_properties={"connection_name": self.connection_name}
        )
        try:
            channel = await connection.channel()
            await channel.basic_qos(prefetch_count=self._prefetch)
            await channel.queue_declare(self.queue, passive=True)
            wake = self._wake = asyncio.Event()
            consume = await channel.basic_consume(self.queue, self._on_delivery, no_ack=False)

            def lost() -> bool:
                return channel.is_closed or connection.is_closed

            for closing in (channel.closing, connection.closing):
                closing.add_done_callback(lambda _: wake.set())
            watcher = asyncio.create_task(_set_when(stop, wake))
            try:
                await self._serve(stop, lost)
                if lost() and not stop.is_set():
                    raise ConnectionError(f"the consumer's connection or channel closed ({self.queue})")
            finally:
                watcher.cancel()
                if not lost() and consume.consumer_tag:
                    await _stop_consuming(channel, consume.consumer_tag)
            await self._finish(lost)
        finally:
            await connection.close()

    @abstractmethod
    async def _on_delivery(self, message: DeliveredMessage) -> None:
        """Called by aiormq, in a task of its own, for each delivery."""

    @abstractmethod
    async def _serve(self, stop: asyncio.Event, lost: Callable[[], bool]) -> None:
        """Work until ``stop`` is set or the connection is ``lost`` (``self._wake`` is set on either; a subclass may
        set and clear it for its own arrivals too)."""

    @abstractmethod
    async def _finish(self, lost: Callable[[], bool]) -> None:
        """After consuming was cancelled: settle what is still held, while the channel lasts."""


async def _set_when(stop: asyncio.Event, wake: asyncio.Event) -> None:
    await stop.wait()
    wake.set()


async def _stop_consuming(channel: AbstractChannel, tag: str) -> None:
    try:
        async with asyncio.timeout(5):
            await channel.basic_cancel(tag)
    except Exception as error:  # a closed channel consumes nothing anyway
        log.warning("could not cancel the consumer", extra={"error": repr(error)[:200]})


DeliveryHandler = Callable[[Delivery], Awaitable[None]]
"""Handles one delivery and settles it (acknowledge, park or requeue). If it raises before settling it, the consumer
requeues it: the queue's delivery limit dead-letters one that fails every time."""


class ConcurrentConsumer(QueueConsumer):
    """Hands each delivery of ``queue`` to ``handle`` as it arrives, up to ``prefetch`` at once.

    On stop, consuming is cancelled and the deliveries in their handlers are given the time the caller allows (the
    runtime's graceful timeout) to finish and settle; whatever is cut short is requeued by the broker when the
    connection closes.
    """

    def __init__(self, amqp_url: str, queue: str, *, prefetch: int, handle: DeliveryHandler) -> None:
        super().__init__(amqp_url, queue, prefetch=prefetch, kind="concurrent")
        self._handle = handle
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def in_flight(self) -> int:
        """Deliveries in their handlers now."""
        return self._in_flight

    async def _on_delivery(self, message: DeliveredMessage) -> None:
        self._in_flight += 1
        self._idle.clear()
        delivery = Delivery(message)
        try:
            await self._handle(delivery)
        except Exception:
            log.exception("a delivery's handler failed; requeueing it", extra={"message_id": delivery.message_id})
            await delivery.requeue()
        finally:
            self._in_flight -= 1
            if not self._in_flight:
                self._idle.set()

    async def _serve(self, stop: asyncio.Event, lost: Callable[[], bool]) -> None:
        await self._wake.wait()

    async def _finish(self, lost: Callable[[], bool]) -> None:
        if self._in_flight and not lost():
            log.info("waiting for deliveries in their handlers", extra={"queue": self.queue, "count": self._in_flight})
            await self._idle.wait()
