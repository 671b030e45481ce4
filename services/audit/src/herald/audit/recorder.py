"""Effectively-once recording: deliveries are batched, written with one idempotent INSERT, acknowledged after commit.

Each handler hands its record to :meth:`BatchRecorder.record` and waits for the outcome; the background
:meth:`BatchRecorder.run` loop collects up to ``max_size`` records or waits ``max_wait`` seconds, whichever comes
first, and writes them in one statement that skips event ids already stored. Only then do the handlers acknowledge
their messages, so a crash at any point leaves the messages in the queue and the redelivery is skipped as a duplicate.

If PostgreSQL goes away the batch is retried with capped exponential back-off and nothing is acknowledged: the
broker stops delivering once the prefetch window is full (the bound on memory), :attr:`BatchRecorder.ready` turns
false, and when PostgreSQL is back the held batch and everything queued behind it are written without loss.

If PostgreSQL refuses the data of a batch (not the connection), rows are written one at a time and only the
refused ones come back as :attr:`Outcome.REJECTED`, for the handler to park: one bad row never blocks the queue.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

from herald.audit.metrics import AuditMetrics
from herald.audit.models import AuditRecord
from herald.audit.repository import RowsRejected
from herald.kit.clock import Clock, utc_now
from herald.kit.logging import redact

log = logging.getLogger(__name__)


class RecordStore(Protocol):
    """Where batches go (the repository; a fake in unit tests)."""

    async def insert(self, records: Sequence[AuditRecord], recorded_at: dt.datetime) -> set[str]: ...


class Outcome(Enum):
    WRITTEN = "written"
    """Inserted by this batch."""
    DUPLICATE = "duplicate"
    """Already stored (a redelivery or re-publish)."""
    REJECTED = "rejected"
    """PostgreSQL refuses this row's data; retrying cannot help."""


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    reason: str = ""


class RecorderClosed(RuntimeError):
    """The recorder is shutting down or could not commit before shutdown: leave the message unacknowledged."""


@dataclass
class _Item:
    record: AuditRecord
    future: asyncio.Future[Result] = field(default_factory=lambda: asyncio.get_running_loop().create_future())

    def resolve(self, result: Result) -> None:
        if not self.future.done():  # the handler may have been cancelled meanwhile
            self.future.set_result(result)

    def fail(self, error: Exception) -> None:
        if not self.future.done():
            self.future.set_exception(error)


@dataclass(frozen=True)
class BatchPolicy:
    max_size: int = 500
    max_wait: float = 0.05
    write_timeout: float = 10.0
    retry_initial: float = 0.2
    retry_max: float = 5.0


class BatchRecorder:
    """Batches records from concurrent handlers into idempotent multi-row inserts."""

    def __init__(
        self,
        store: RecordStore,
        metrics: AuditMetrics,
        policy: BatchPolicy,
        *,
        clock: Clock = utc_now,
    ) -> None:
        self._store = store
        self._metrics = metrics
        self._policy = policy
        self._clock = clock
        self._pending: list[_Item] = []
        self._wake = asyncio.Event()
        self._closed = False
        self._failing = False

    async def ready(self) -> bool:
        """Readiness: false while batch writes are failing."""
        return not self._failing

    async def record(self, record: AuditRecord) -> Result:
        """Queue ``record`` for the next batch and wait until that batch is committed (or refused)."""
        if self._closed:
            raise RecorderClosed("the audit recorder is shutting down")
        item = _Item(record)
        self._pending.append(item)
        self._metrics.pending.set(len(self._pending))
        if len(self._pending) == 1 or len(self._pending) >= self._policy.max_size:
            self._wake.set()
        return await item.future

    async def run(self, stop: asyncio.Event) -> None:
        """The batching loop; on ``stop`` it makes one last attempt at what is pending, then closes."""
        watcher = asyncio.create_task(self._wake_on(stop))
        try:
            while not stop.is_set():
                await self._gather(stop)
                batch = self._take()
                if batch:
                    await self._write_until_done(batch, stop)
        finally:
            watcher.cancel()
            self._closed = True
            await self._final_flush()

    async def _wake_on(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self._wake.set()

    async def _sleep(self, seconds: float) -> None:
        self._wake.clear()
        try:
            async with asyncio.timeout(seconds):
                await self._wake.wait()
        except TimeoutError:
            pass

    async def _gather(self, stop: asyncio.Event) -> None:
        """Wait for a first record, then for a full batch or the end of the wait, whichever comes first."""
        while not self._pending and not stop.is_set():
            self._wake.clear()
            await self._wake.wait()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._policy.max_wait
        while len(self._pending) < self._policy.max_size and not stop.is_set():
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            await self._sleep(remaining)

    def _take(self) -> list[_Item]:
        batch, self._pending = self._pending[: self._policy.max_size], self._pending[self._policy.max_size :]
        return batch

    async def _write_until_done(self, batch: list[_Item], stop: asyncio.Event) -> None:
        delay = self._policy.retry_initial
        while True:
            try:
                await self._write(batch)
            except Exception as error:  # connection lost, timeout, server shutting down: keep the batch, retry
                self._failing = True
                self._metrics.write_failures.inc()
                log.warning(
                    "audit batch write failed; holding %d messages unacknowledged",
                    len(batch),
                    extra={"error": redact(repr(error))[:500], "retry_in_seconds": delay},
                )
                if stop.is_set():
                    self._fail(batch)
                    return
                await self._sleep(delay)
                delay = min(delay * 2, self._policy.retry_max)
            else:
                if self._failing:
                    log.info("audit batch writes recovered")
                self._failing = False
                return

    async def _write(self, batch: list[_Item]) -> None:
        recorded_at = self._clock()
        records = list({item.record.event_id: item.record for item in batch}.values())
        try:
            async with asyncio.timeout(self._policy.write_timeout):
                inserted = await self._store.insert(records, recorded_at)
            rejected: dict[str, str] = {}
        except RowsRejected:
            inserted, rejected = await self._write_one_by_one(records, recorded_at)
        self._resolve(batch, inserted, rejected, recorded_at)

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

    def _resolve(self, batch: list[_Item], inserted: set[str], rejected: dict[str, str], at: dt.datetime) -> None:
        self._metrics.batch_rows.observe(len(batch))
        first_seen: set[str] = set()
        for item in batch:
            event_id = item.record.event_id
            if event_id in rejected:
                self._metrics.rejected.inc()
                item.resolve(Result(Outcome.REJECTED, rejected[event_id]))
            elif event_id in inserted and event_id not in first_seen:
                first_seen.add(event_id)
                self._metrics.written.labels(item.record.action.value).inc()
                self._metrics.lag.observe(max(0.0, (at - item.record.occurred_at).total_seconds()))
                item.resolve(Result(Outcome.WRITTEN))
            else:
                self._metrics.duplicates.inc()
                item.resolve(Result(Outcome.DUPLICATE))
        self._metrics.pending.set(len(self._pending))

    def _fail(self, batch: list[_Item]) -> None:
        for item in batch:
            item.fail(RecorderClosed("shutting down before the batch could be committed"))
        self._metrics.pending.set(len(self._pending))

    async def _final_flush(self) -> None:
        pending, self._pending = self._pending, []
        for start in range(0, len(pending), self._policy.max_size):
            batch = pending[start : start + self._policy.max_size]
            try:
                await self._write(batch)
            except Exception:  # the messages stay unacknowledged and are redelivered after the restart
                log.warning("audit recorder stopped with %d uncommitted messages; they will be redelivered", len(batch))
                self._fail(batch)
