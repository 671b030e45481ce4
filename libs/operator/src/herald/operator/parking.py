"""Parking-lot operations on the real broker: find parking queues, read, replay and purge parked messages.

Reading never removes anything: messages are fetched (``basic.get``) without acknowledgement and held until the
operation ends, when closing the channel hands every message not explicitly acknowledged back to its parking
queue. A held message is not delivered again on the same channel, so one operation sees each parked message once.

A message is acknowledged (removed from its parking queue) only after its replayed copy has been confirmed by the
broker, so a failure at any point leaves it parked. A copy that fails again and is parked again while the replay
is still running carries this run's ``herald-replayed-at`` (consumers keep the headers when they park), so the
run holds it instead of replaying it a second time.

Counts come from the management API (``messages``: ready plus unacknowledged, refreshed every few seconds); the
AMQP ``queue.declare`` count is only a fallback, because a quorum queue's count there can lag behind.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from urllib.parse import quote

import aio_pika
import httpx
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue, AbstractRobustConnection
from aio_pika.exceptions import AMQPError, ChannelClosed
from aiormq.exceptions import ChannelNotFoundEntity
from prometheus_client import CollectorRegistry

from herald.contracts.envelope import service_source
from herald.contracts.platform import Platform
from herald.kit.broker import EventPublisher, PublishNotConfirmed, build_broker
from herald.kit.clock import utc_now
from herald.kit.consumers import REPLAYED_AT_HEADER
from herald.operator.messages import (
    DEAD_SUFFIX,
    ParkedMessage,
    purged_event,
    replay_headers,
    replayed_event,
    text,
    work_queue_of,
)
from herald.operator.settings import OperatorSettings

log = logging.getLogger(__name__)

KNOWN_WORK_QUEUES = (*(f"publisher.{platform.value}" for platform in Platform), "scheduler", "audit")
"""Consumers whose parking queues are looked for when the management API cannot be asked."""


class QueueNotFound(LookupError):
    """The named queue does not exist on the broker (in this vhost)."""


@dataclass(frozen=True)
class ParkingQueue:
    name: str
    messages: int

    @property
    def work_queue(self) -> str:
        return work_queue_of(self.name)


@dataclass
class ReplayReport:
    """What one replay did, message by message (by message id)."""

    parking_queue: str
    target_queue: str
    replayed: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    """Not replayed (still parked), with why."""
    unaudited: list[str] = field(default_factory=list)
    """Replayed, but the MessageReplayed event could not be published (logged instead)."""
    not_found: list[str] = field(default_factory=list)
    """Message ids asked for that are not in the parking queue (already replayed or purged, or mistyped)."""

    @property
    def ok(self) -> bool:
        return not self.failed and not self.unaudited and not self.not_found


def _parked(queue: str, message: AbstractIncomingMessage) -> ParkedMessage:
    return ParkedMessage.read(
        queue,
        body=message.body,
        headers=message.headers,
        message_id=message.message_id,
        correlation_id=message.correlation_id,
        message_type=message.type,
        routing_key=message.routing_key,
    )


def _replayed_since(message: AbstractIncomingMessage, started: dt.datetime) -> bool:
    """True for a copy this run replayed that has been parked again meanwhile."""
    stamp = text((message.headers or {}).get(REPLAYED_AT_HEADER))
    if stamp is None:
        return False
    try:
        return dt.datetime.fromisoformat(stamp) >= started
    except ValueError:
        return False


class ParkingLot:
    """Operations over the parking queues of one vhost. Use ``async with ParkingLot.open(settings) as lot``."""

    def __init__(self, settings: OperatorSettings, connection: AbstractRobustConnection) -> None:
        self._settings = settings
        self._connection = connection
        self._timeout = settings.operation_timeout_seconds

    @classmethod
    @asynccontextmanager
    async def open(cls, settings: OperatorSettings) -> AsyncIterator[ParkingLot]:
        connection = await aio_pika.connect_robust(
            settings.amqp_url.get_secret_value(), timeout=settings.operation_timeout_seconds
        )
        try:
            yield cls(settings, connection)
        finally:
            await connection.close()

    # -- discovery ------------------------------------------------------------------------------------------------

    async def parking_queues(self) -> list[ParkingQueue]:
        """Every parking queue of the vhost with its message count, by name."""
        counts = await self._management_counts()
        if counts is None:
            counts = {}
            for work in KNOWN_WORK_QUEUES:
                try:
                    counts[f"{work}{DEAD_SUFFIX}"] = await self._declared_count(f"{work}{DEAD_SUFFIX}")
                except QueueNotFound:
                    continue
        return [ParkingQueue(name, counts[name]) for name in sorted(counts) if name.endswith(DEAD_SUFFIX)]

    async def _management_counts(self) -> dict[str, int] | None:
        settings = self._settings
        url = f"{settings.management_base()}/api/queues/{quote(settings.vhost, safe='')}"
        try:
            async with httpx.AsyncClient(timeout=self._timeout, auth=settings.management_auth()) as client:
                response = await client.get(url, params={"columns": "name,messages"})
                response.raise_for_status()
            return {str(q["name"]): int(q.get("messages") or 0) for q in response.json()}
        except (httpx.HTTPError, ValueError, TypeError, KeyError) as exc:
            log.warning("management API unavailable (%s); checking the known parking queues", type(exc).__name__)
            return None

    async def _declared_count(self, queue: str) -> int:
        async with self._channel() as channel:
            declared = await self._passive(channel, queue)
            return int(declared.declaration_result.message_count or 0)

    # -- reading --------------------------------------------------------------------------------------------------

    async def browse(self, queue: str, limit: int) -> list[ParkedMessage]:
        """Up to ``limit`` parked messages, oldest first, left in place."""
        async with self._channel() as channel:
            parking = await self._passive(channel, queue)
            found: list[ParkedMessage] = []
            async for message in self._fetch(parking):
                found.append(_parked(queue, message))
                if len(found) >= limit:
                    break
            return found  # closing the channel returns every fetched message to the queue

    # -- replay ---------------------------------------------------------------------------------------------------

    async def replay(
        self,
        queue: str,
        *,
        message_ids: Collection[str] = (),
        limit: int | None = None,
        target: str | None = None,
        note: str | None = None,
    ) -> ReplayReport:
        """Send parked messages back to their work queue (all, or those in ``message_ids``), at most ``limit``.

        For each message: publish a copy to ``target`` (default: the parking queue's work queue) through the
        default exchange and wait for the broker's confirm, then publish ``MessageReplayed``, then acknowledge the
        parked original. A copy the broker does not confirm leaves the original parked.
        """
        target = target or work_queue_of(queue)
        report = ReplayReport(queue, target)
        started = utc_now()
        wanted = set(message_ids)
        async with self._channel() as reader, self._channel(confirms=True) as writer, self._events() as events:
            parking = await self._passive(reader, queue)
            await self._passive(writer, target)  # fail before touching anything if the target is missing
            async for message in self._fetch(parking):
                parked = _parked(queue, message)
                if (wanted and parked.message_id not in wanted) or _replayed_since(message, started):
                    continue  # held until the channel closes, then back in the queue
                await self._replay_one(writer, events, message, parked, report, note)
                wanted.discard(parked.message_id or "")
                if (message_ids and not wanted) or (limit is not None and len(report.replayed) >= limit):
                    break
        report.not_found = sorted(wanted)
        return report

    async def _replay_one(
        self,
        writer: AbstractChannel,
        events: EventPublisher,
        message: AbstractIncomingMessage,
        parked: ParkedMessage,
        report: ReplayReport,
        note: str | None,
    ) -> None:
        key = parked.message_id or f"(no id, parked at {parked.parked_at})"
        now = utc_now()
        try:
            await writer.default_exchange.publish(
                aio_pika.Message(
                    message.body,
                    headers=replay_headers(message.headers or {}, now),
                    content_type=message.content_type,
                    content_encoding=message.content_encoding,
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    correlation_id=message.correlation_id,
                    message_id=message.message_id,
                    timestamp=message.timestamp,
                    type=message.type,
                    app_id=message.app_id,
                ),
                routing_key=report.target_queue,
                mandatory=True,
                timeout=self._timeout,
            )
        except (AMQPError, TimeoutError) as exc:
            report.failed[key] = f"not confirmed by the broker: {type(exc).__name__}: {exc}"
            return
        try:
            await events.publish(replayed_event(parked, report.target_queue, note, now))
        except PublishNotConfirmed:
            # The copy is in the work queue: keeping the original parked would let a later replay duplicate it.
            log.exception("replayed without its MessageReplayed event", extra={"message_id": key})
            report.unaudited.append(key)
        await message.ack()
        report.replayed.append(key)

    # -- purge ----------------------------------------------------------------------------------------------------

    async def purge(self, queue: str, message_ids: Collection[str] = (), note: str | None = None) -> list[str | None]:
        """Delete parked messages for good: all of them, or those in ``message_ids``. Returns the removed ids.

        Each deletion is recorded first: ``MessagePurged`` is published (and confirmed) before the message is
        acknowledged, so a message whose event cannot be published stays parked (:class:`PublishFailed` is raised).
        """
        async with self._channel() as channel, self._events() as events:
            parking = await self._passive(channel, queue)
            removed: list[str | None] = []
            async for message in self._fetch(parking):
                if not message_ids or message.message_id in message_ids:
                    parked = _parked(queue, message)
                    await events.publish(purged_event(parked, note, utc_now()))
                    await message.ack()
                    removed.append(message.message_id)
            return removed

    # -- plumbing -------------------------------------------------------------------------------------------------

    @asynccontextmanager
    async def _channel(self, *, confirms: bool = False) -> AsyncIterator[AbstractChannel]:
        channel = await self._connection.channel(publisher_confirms=confirms, on_return_raises=confirms)
        try:
            yield channel
        finally:
            if not channel.is_closed:
                await channel.close()

    @asynccontextmanager
    async def _events(self) -> AsyncIterator[EventPublisher]:
        broker = build_broker(self._settings, CollectorRegistry())
        await broker.connect()
        try:
            yield EventPublisher(
                broker,
                source=service_source(self._settings.service_name),
                timeout=self._settings.publish_timeout_seconds,
            )
        finally:
            await broker.stop()

    async def _passive(self, channel: AbstractChannel, queue: str) -> AbstractQueue:
        try:
            return await channel.declare_queue(queue, passive=True, timeout=self._timeout)
        except (ChannelNotFoundEntity, ChannelClosed) as exc:
            raise QueueNotFound(f"no queue {queue!r} in vhost {self._settings.vhost!r}") from exc

    async def _fetch(self, queue: AbstractQueue) -> AsyncIterator[AbstractIncomingMessage]:
        """Every message not yet held by this channel, unacknowledged (held until the channel closes)."""
        while (message := await queue.get(no_ack=False, fail=False, timeout=self._timeout)) is not None:
            yield message
