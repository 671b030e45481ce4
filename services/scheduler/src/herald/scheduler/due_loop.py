"""The due loop: hands each distribution to its publisher when it is due, exactly once across replicas.

Each pass claims a batch of due distributions of approved content with ``FOR UPDATE SKIP LOCKED`` and, in the
same transaction, marks them ``queued`` and writes their ``PublishRequested`` events to the outbox. A replica
never sees rows another replica holds, and a claimed row is no longer ``scheduled`` once that transaction commits,
so every distribution is requested once whichever replica claims it.

Between passes the loop sleeps until the next due time (at most ``due_max_sleep_seconds``) rather than polling; a
distribution scheduled, rescheduled or published-now sooner than that NOTIFYs ``<schema>.due`` and wakes it.

Misfires, as Quartz handles them: a distribution claimed more than ``misfire_threshold_seconds`` after its due
time (say, after an outage) follows its policy: ``publish_late`` publishes it if it is no later than its window
(default 24 h), otherwise, like ``skip``, it is marked ``missed`` and ``DistributionMissed`` is emitted.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from sqlalchemy.ext.asyncio import AsyncEngine

from herald.contracts.base import Event
from herald.kit.pg_notify import PgNotifications
from herald.scheduler import events
from herald.scheduler import repository as repo
from herald.scheduler.events import EnvelopeFactory
from herald.scheduler.models import Content, Distribution, DistributionStatus, MisfirePolicy
from herald.scheduler.settings import SchedulerSettings

log = logging.getLogger(__name__)

BACKLOG_INTERVAL_SECONDS = 1.0
"""How often the ``herald_scheduler_backlog`` gauge is recounted."""
LATENESS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600, 86400)


def due_channel(schema: str) -> str:
    """The NOTIFY channel that wakes the due loops of ``schema``."""
    return f"{schema}.due"


@dataclass(frozen=True)
class ClaimResult:
    requested: int = 0
    missed: int = 0
    claimed_total: int = 0
    """Rows locked, including any left for the next pass because their content was being changed."""
    seconds_to_next: float | None = None
    """Until the next waiting distribution of approved content is due, read at the end of the pass (None: none)."""


class _Metrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.claimed = Counter(
            "herald_distributions_claimed_total",
            "Due distributions claimed by this replica, by decision (requested or missed).",
            ["decision"],
            registry=registry,
        )
        self.lateness = Histogram(
            "herald_due_loop_lateness_seconds",
            "Claim time minus due time of each claimed distribution.",
            buckets=LATENESS_BUCKETS,
            registry=registry,
        )
        self.backlog = Gauge(
            "herald_scheduler_backlog",
            "Distributions of approved content that are due but not yet requested.",
            registry=registry,
        )


class DueLoop:
    """One replica's due loop; run it with ``ServiceRuntime.add_background(loop.run)``."""

    def __init__(
        self,
        engine: AsyncEngine,
        envelopes: EnvelopeFactory,
        settings: SchedulerSettings,
        registry: CollectorRegistry,
        *,
        channel: str,
    ) -> None:
        self._engine = engine
        self._envelopes = envelopes
        self._settings = settings
        self._channel = channel
        self._metrics = _Metrics(registry)
        self._next_backlog_count = time.monotonic()

    async def run(self, stop: asyncio.Event) -> None:
        notifications = PgNotifications(self._engine, self._channel)
        try:
            while not stop.is_set():
                await notifications.ensure()
                notifications.event.clear()
                delay = await self._pass()
                if delay > 0:
                    await notifications.wait(stop, delay)
        finally:
            await notifications.close()

    async def _pass(self) -> float:
        """Claim what is due; return how long to sleep (0: go on at once)."""
        try:
            result = await self.claim_once()
            if result.claimed_total >= self._settings.due_batch_size and result.requested + result.missed:
                return 0.0
            if time.monotonic() >= self._next_backlog_count:
                await self._count_backlog()
        except Exception:  # the database is down: try again shortly
            log.exception("due loop pass failed")
            return self._settings.due_error_pause_seconds
        if result.seconds_to_next is None:
            return self._settings.due_max_sleep_seconds
        shortest = self._settings.due_min_sleep_ms / 1000
        return min(max(result.seconds_to_next, shortest), self._settings.due_max_sleep_seconds)

    async def _count_backlog(self) -> None:
        # The gauge is read every few seconds; counting it once a second, not on every pass, saves a checkout and
        # four round trips per pass under steady load (a pass every 10 ms at 100 posts/s).
        async with self._engine.connect() as conn:
            outlook = await repo.due_outlook(conn)
        self._metrics.backlog.set(outlook.backlog)
        self._next_backlog_count = time.monotonic() + BACKLOG_INTERVAL_SECONDS

    async def claim_once(self) -> ClaimResult:
        """Claim one batch of due distributions and decide each: request it, or mark it missed."""
        async with repo.driver_transaction(self._engine) as db:  # the hot path: asyncpg statements, no ORM
            claimed = await repo.claim_due_set(db, self._settings.due_batch_size)
            if not claimed:
                return ClaimResult(seconds_to_next=await repo.seconds_to_next_due_set(db))
            approved = await repo.approved_contents_for_share_set(db, {c.distribution.content_id for c in claimed})
            requests: list[tuple[Distribution, Event]] = []
            missed: list[tuple[Distribution, Event]] = []
            for item in claimed:
                d, content = item.distribution, approved.get(item.distribution.content_id)
                if content is None:
                    continue  # its content is being changed or is no longer approved: leave it for the next pass
                late = max((item.claimed_at - d.scheduled_at).total_seconds(), 0.0)
                self._metrics.lateness.observe(late)
                if late <= self._grace(d):
                    requests.append((d, self._request(d, content, item.claimed_at)))
                else:
                    missed.append((d, events.missed(d, late, self._grace(d), item.claimed_at)))
            # Every event of the pass, requests and misses, in one outbox statement.
            event_ids = await events.emit_set(db, self._envelopes, *(event for _, event in requests + missed))
            await repo.mark_requested_set(
                db, [(d.distribution_id, eid) for (d, _), eid in zip(requests, event_ids, strict=False)]
            )
            await repo.set_status_set(db, [d.distribution_id for d, _ in missed], DistributionStatus.MISSED)
            # In the claim's transaction: its own claims no longer wait, others' locked ones still do.
            seconds_to_next = await repo.seconds_to_next_due_set(db)
        self._metrics.claimed.labels("requested").inc(len(requests))
        self._metrics.claimed.labels("missed").inc(len(missed))
        if missed:
            log.warning("distributions missed", extra={"count": len(missed)})
        return ClaimResult(
            requested=len(requests), missed=len(missed), claimed_total=len(claimed), seconds_to_next=seconds_to_next
        )

    def _grace(self, d: Distribution) -> int:
        threshold = self._settings.misfire_threshold_seconds
        if d.misfire_policy is MisfirePolicy.PUBLISH_LATE:
            return max(threshold, d.misfire_window_seconds)
        return threshold

    @staticmethod
    def _request(d: Distribution, content: Content, claimed_at: dt.datetime) -> Event:
        return events.publish_requested(
            d, title=content.title, text=content.text, link=content.link, now=claimed_at, media=content.media
        )
