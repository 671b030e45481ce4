"""Audit ingest: every event on the audit queue becomes one row, written effectively once, acknowledged after commit.

The queue is consumed in batches by :class:`herald.kit.batch.BatchConsumer` (up to ``batch_max_size`` deliveries,
or ``batch_max_wait_seconds`` after the first one). For each batch, :class:`AuditIngest`:

1. reads every delivery as a contract event (once: the row is built from that one validated model); a message that
   is not a valid Herald event is parked with its reason, like the kit's ``Intake`` does;
2. writes the rows with one set-based ``INSERT ... SELECT FROM unnest(...) ON CONFLICT DO NOTHING``
   (:class:`RecordWriter`), so an event id already stored (a redelivery, a re-publish) is skipped;
3. returns, and only then does the consumer acknowledge the batch with one ``basic.ack(multiple=True)``.

A crash anywhere before the acknowledgement leaves the batch in the queue, and its redelivery is deduplicated. If
PostgreSQL goes away, the batch is retried with capped exponential back-off and nothing is acknowledged: the broker
stops delivering once the prefetch window is full, readiness turns false, and writing resumes without loss. Stopping
meanwhile abandons the batch (the broker redelivers it). A row PostgreSQL refuses (bad data, not a lost connection)
is isolated: the rest of its batch is written, and that event alone is parked as ``poison`` (a refused
``MessageParked`` is dead-lettered as it is, so no report loops).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

import prometheus_client
from faststream.rabbit import RabbitBroker

from herald.audit.mapping import to_record
from herald.audit.metrics import AuditMetrics
from herald.audit.models import AuditRecord
from herald.audit.repository import RowsRejected
from herald.contracts.envelope import ReceivedEvent
from herald.contracts.operations import MessageParked, ParkCategory
from herald.kit.amqp_consumer import ConsumerAbandoned, Delivery
from herald.kit.batch import BatchConsumer, BatchWindow, Settle
from herald.kit.broker import EventPublisher
from herald.kit.clock import Clock, utc_now
from herald.kit.consumers import Unreadable, park_copy
from herald.kit.logging import redact

log = logging.getLogger(__name__)


class RecordStore(Protocol):
    """Where batches go (the repository; a fake in unit tests)."""

    async def insert(self, records: Sequence[AuditRecord], recorded_at: dt.datetime) -> set[str]: ...


class Outcome(Enum):
    WRITTEN = "written"
    """Inserted by this batch."""
    DUPLICATE = "duplicate"
    """Already stored (a redelivery or re-publish), or earlier in the same batch."""
    REJECTED = "rejected"
    """PostgreSQL refuses this row's data; retrying cannot help."""


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    reason: str = ""


@dataclass(frozen=True)
class WritePolicy:
    write_timeout: float = 10.0
    """Bound on one batch write (a PostgreSQL that hangs instead of refusing must not hang the writer)."""
    retry_initial: float = 0.2
    retry_max: float = 5.0


class RecordWriter:
    """Writes one batch of records once: retried while the store fails, refused rows isolated."""

    def __init__(
        self,
        store: RecordStore,
        metrics: AuditMetrics,
        policy: WritePolicy,
        *,
        clock: Clock = utc_now,
    ) -> None:
        self._store = store
        self._metrics = metrics
        self._policy = policy
        self._clock = clock
        self._failing = False

    async def ready(self) -> bool:
        """Readiness: false while batch writes are failing."""
        return not self._failing

    async def write(self, records: Sequence[AuditRecord], stop: asyncio.Event) -> list[Result]:
        """Write ``records`` and return the outcome of each, in order. While the store fails the write is retried;
        if ``stop`` is set meanwhile, :class:`~herald.kit.amqp_consumer.ConsumerAbandoned` is raised (nothing was
        written)."""
        if not records:
            return []
        delay = self._policy.retry_initial
        while True:
            try:
                results = await self._write(records)
            except Exception as error:  # connection lost, timeout, server shutting down: keep the batch, retry
                self._failing = True
                self._metrics.write_failures.inc()
                log.warning(
                    "audit batch write failed; holding %d messages unacknowledged",
                    len(records),
                    extra={"error": redact(repr(error))[:500], "retry_in_seconds": delay},
                )
                if stop.is_set():
                    raise ConsumerAbandoned("stopping before the batch could be committed") from error
                try:
                    async with asyncio.timeout(delay):
                        await stop.wait()
                except TimeoutError:
                    pass
                if stop.is_set():  # no new attempt: it could outlast the graceful timeout
                    raise ConsumerAbandoned("stopping before the batch could be committed") from error
                delay = min(delay * 2, self._policy.retry_max)
            else:
                if self._failing:
                    log.info("audit batch writes recovered")
                self._failing = False
                return results

    async def _write(self, records: Sequence[AuditRecord]) -> list[Result]:
        recorded_at = self._clock()
        unique = list({record.event_id: record for record in records}.values())
        try:
            async with asyncio.timeout(self._policy.write_timeout):
                inserted = await self._store.insert(unique, recorded_at)
            rejected: dict[str, str] = {}
        except RowsRejected:
            inserted, rejected = await self._write_one_by_one(unique, recorded_at)
        return self._account(records, inserted, rejected, recorded_at)

    async def _write_one_by_one(
        self, records: list[AuditRecord], recorded_at: dt.datetime
    ) -> tuple[set[str], dict[str, str]]:
        inserted: set[str] = set()
        rejected: dict[str, str] = {}
        for record in records:
            try:
                async with asyncio.timeout(self._policy.write_timeout):
                    inserted |= await self._store.insert([record], recorded_at)
            except RowsRejected as error:
                rejected[record.event_id] = redact(str(error))[:500]
        return inserted, rejected

    def _account(
        self, records: Sequence[AuditRecord], inserted: set[str], rejected: dict[str, str], at: dt.datetime
    ) -> list[Result]:
        self._metrics.batch_rows.observe(len(records))
        results: list[Result] = []
        first_seen: set[str] = set()
        written: Counter[str] = Counter()
        lag = self._metrics.lag
        for record in records:
            event_id = record.event_id
            if event_id in rejected:
                results.append(Result(Outcome.REJECTED, rejected[event_id]))
            elif event_id in inserted and event_id not in first_seen:
                first_seen.add(event_id)
                written[record.action.value] += 1
                lag.observe(max(0.0, (at - record.occurred_at).total_seconds()))
                results.append(Result(Outcome.WRITTEN))
            else:
                results.append(Result(Outcome.DUPLICATE))
        for action, count in written.items():  # one labelled increment per action, not per row
            self._metrics.written.labels(action).inc(count)
        if rejected_count := sum(r.outcome is Outcome.REJECTED for r in results):
            self._metrics.rejected.inc(rejected_count)
        if duplicates := len(results) - rejected_count - written.total():
            self._metrics.duplicates.inc(duplicates)
        return results


class AuditIngest:
    """Consumes the audit queue in batches and records each event once (see the module docstring)."""

    def __init__(
        self,
        broker: RabbitBroker,
        events: EventPublisher,
        writer: RecordWriter,
        metrics: AuditMetrics,
        *,
        amqp_url: str,
        queue: str,
        prefetch: int,
        window: BatchWindow,
        parked: prometheus_client.Counter,
    ) -> None:
        self._parked = parked
        self._broker = broker
        self._events = events
        self._writer = writer
        self._metrics = metrics
        self.queue = queue
        self._stop = asyncio.Event()
        self._consumer = BatchConsumer(amqp_url, queue, prefetch=prefetch, window=window, handle=self.handle)

    async def ready(self) -> bool:
        """Readiness: consuming, and batch writes are not failing."""
        return await self._consumer.ready() and await self._writer.ready()

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` (a runtime background loop)."""
        self._stop = stop
        await self._consumer.run(stop)

    async def handle(self, batch: Sequence[Delivery]) -> Mapping[int, Settle]:
        """Read, write and decide the settlement of one batch (acknowledged by the consumer afterwards)."""
        self._metrics.pending.set(len(batch) + self._consumer.pending)
        verdicts: dict[int, Settle] = {}
        records: list[AuditRecord] = []
        read: list[tuple[int, ReceivedEvent]] = []
        for index, message in enumerate(batch):
            received = message.read()
            if isinstance(received, Unreadable):
                verdicts[index] = await self._park(
                    message, received.reason, received.category, team_id=received.team_id
                )
                continue
            try:
                record = to_record(received)
            except Exception as error:  # a mapping bug must not block the queue: park this one, go on
                log.exception("audit mapping failed", extra={"message_id": message.message_id})
                verdicts[index] = await self._park(message, f"audit mapping failed: {error!r}", ParkCategory.POISON)
                continue
            records.append(record)
            read.append((index, received))
        results = await self._writer.write(records, self._stop)
        for (index, received), result in zip(read, results, strict=True):
            if result.outcome is Outcome.REJECTED:
                verdicts[index] = await self._refuse(batch[index], received, result.reason)
        self._metrics.pending.set(self._consumer.pending)
        return verdicts

    async def _park(
        self,
        message: Delivery,
        reason: str,
        category: ParkCategory,
        *,
        team_id: object = None,
        correlation_id: str | None = None,
    ) -> Settle:
        try:
            await park_copy(
                self._broker,
                self._events,
                self._parked,
                self.queue,
                message,
                reason,
                category,
                team_id=team_id,
                correlation_id=correlation_id,
            )
        except Exception as error:  # the broker would not take the copy or the report: try again later
            log.warning("could not park a message; requeued", extra={"error": redact(repr(error))[:500]})
            return Settle.REQUEUE
        return Settle.ACK

    async def _refuse(self, message: Delivery, received: ReceivedEvent, reason: str) -> Settle:
        event = received.event
        if isinstance(event, MessageParked):
            # Parking a park report would publish another report about it: dead-letter it quietly instead.
            log.error("audit row refused; dead-lettering the park report", extra={"reason": reason})
            return Settle.REJECT
        return await self._park(
            message,
            f"audit row refused by PostgreSQL: {reason}",
            ParkCategory.POISON,
            team_id=getattr(event, "team_id", None),
            correlation_id=event.correlation_id,
        )
