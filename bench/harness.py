"""What every benchmark phase shares: the running stack, a team's API client, progress queries and the seeding,
release and settling of a batch of distributions."""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

from bench.client import Account, HeraldApi, Seeding, bounded
from bench.database import TERMINAL, Database
from bench.resources import CpuMeter, Monitor
from bench.stack import Stack
from bench.stats import Buckets, bucket_delta, histogram_buckets, histogram_quantile, summarise
from herald.scheduler.schemas import BULK_MAX_ITEMS

T = TypeVar("T")
CLAIM_METRIC = "herald_due_loop_lateness_seconds"
SETTLE_POLL_SECONDS = 2.0
SAMPLE_EVERY = 3
"""Polling only detects the end of a phase: its figures come from the rows' own timestamps (``published_at``,
``last_update``, ``last_outcome_recorded``), not from when a poll saw them, so polling less often costs no
precision. A full count scans the phase's rows on the database being measured (~18 ms of PostgreSQL for the
statuses and ~7 ms for the audit log at 10,000 posts), so :meth:`Harness.settle` polls every 2 s from the last due
time on, asks only whether any distribution is still open (:meth:`Database.any_open`, which stops at the first)
in between, and counts both every third poll (the progress samples) and once nothing is open."""
CALIBRATION_CALLS = 200
BULK_CLIENTS = 2
"""Bulk scheduling requests in flight at once (seeding and the scheduling phase)."""
PHASES = ("reference", "peer", "audit_ingest", "precision", "burst", "media", "scale", "scheduling")
"""The measuring phases, in the order they run (``--phases`` picks some)."""


@dataclass(frozen=True)
class Options:
    """Sizes and knobs of a run. The defaults are the issue's sizes; :meth:`quick` is a smoke run."""

    quick: bool = False
    accounts_per_platform: int = 10
    concurrency: int = 32
    reference_count: int = 20_000
    audit_events: int = 20_000
    precision_rate: int = 100
    precision_seconds: int = 60
    precision_fast_rate: int = 300
    precision_fast_seconds: int = 60
    burst_size: int = 10_000
    media_image_posts: int = 300
    media_text_posts: int = 3_000
    media_image_bytes: int = 1_000_000
    scale_sizes: tuple[int, ...] = (10_000, 1_000_000)
    probe_rate: int = 20
    probe_seconds: int = 10
    settle_timeout_seconds: float = 900
    scheduling_calls: int = 2_000
    scheduling_bulk_requests: int = 20
    profile: bool = False
    phases: tuple[str, ...] = PHASES

    @classmethod
    def quick_run(cls, **overrides: Any) -> Options:
        sizes: dict[str, Any] = {
            "quick": True,
            "reference_count": 5_000,
            "audit_events": 3_000,
            "precision_seconds": 15,
            "precision_fast_seconds": 10,
            "burst_size": 1_500,
            "media_image_posts": 90,
            "media_text_posts": 600,
            "scale_sizes": (10_000, 100_000),
            "probe_rate": 10,
            "probe_seconds": 5,
            "settle_timeout_seconds": 300,
            "scheduling_calls": 500,
            "scheduling_bulk_requests": 5,
        }
        return cls(**(sizes | overrides))


def say(message: str) -> None:
    """Progress for the person watching (stderr, so stdout stays the report)."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def plan(n: int, accounts: int) -> list[tuple[int, int]]:
    """``(content index, account index)`` of each of ``n`` distributions: every account gets its share, and no
    account is given one content item twice (platforms refuse the same text twice from one account)."""
    if accounts < 1:
        raise ValueError("at least one account")
    return [(i // accounts, i % accounts) for i in range(n)]


def contents_needed(n: int, accounts: int) -> int:
    return math.ceil(n / accounts)


@dataclass
class Batch:
    """Distributions seeded for one phase, on draft content: nothing is due until :meth:`Harness.release`."""

    tag: str
    distribution_ids: list[str]
    content_ids: list[str]
    first_due: dt.datetime
    last_due: dt.datetime
    content_seeding: Seeding
    seeding: Seeding
    """``count`` distributions in ``seconds``; the latency is of each bulk request."""
    seeded_from: dt.datetime
    """When scheduling began (the batch's ``DistributionScheduled`` events occurred from then on)."""

    @property
    def window(self) -> tuple[dt.datetime, dt.datetime]:
        """``[first_due, last_due]`` as a half-open range for queries."""
        return self.first_due, self.last_due + dt.timedelta(milliseconds=1)


@dataclass
class Settled:
    """When a batch had every distribution in a final state and every outcome in the audit log."""

    statuses: dict[str, int]
    audited: int
    timed_out: bool
    progress: list[tuple[float, int, int]] = field(default_factory=list)
    """(seconds after release, final in the scheduler, outcomes in the audit log), sampled while waiting."""


def batch_summary(batch: Batch, release: dict[str, Any], settled: Settled, published: int) -> dict[str, Any]:
    """What every phase reports about its batch: seeding, release, final statuses and how many were published."""
    return {
        "seeding": batch.seeding.as_json(),
        "content_seeding": batch.content_seeding.as_json(),
        "release": release,
        "statuses": settled.statuses,
        "timed_out": settled.timed_out,
        "published": published,
    }


@dataclass
class Harness:
    options: Options
    stack: Stack
    api: HeraldApi
    db: Database
    monitor: Monitor
    run_id: str
    accounts: list[Account] = field(default_factory=list)
    seed_rate: float = 500.0
    """Distributions seeded per second through the bulk endpoint, first calibrated, then updated from each seeding
    (to pick due times)."""
    approve_rate: float = 50.0
    content_rate: float = 50.0
    """Content items created per second (one per request), updated from each seeding."""

    # -- seeding ----------------------------------------------------------------------------------------------

    async def calibrate(self) -> Seeding:
        """Time a few single schedule calls (reported), then one bulk request to size the lead time the first real
        batch needs (on draft content, due in a year: they never publish)."""
        content = await self.api.create_content("Bench calibration", f"Herald bench {self.run_id} calibration")
        when = utcnow() + dt.timedelta(days=365)
        targets = [self.accounts[i % len(self.accounts)] for i in range(CALIBRATION_CALLS)]
        calls = [(lambda a=a: self.api.schedule(content, a, when)) for a in targets]
        _, seeding = await bounded(self.options.concurrency, calls)
        items = [(content, self.accounts[i % len(self.accounts)], when) for i in range(BULK_MAX_ITEMS)]
        _, bulk = await bounded(1, [partial(self.api.schedule_many, items)])
        self.seed_rate = BULK_MAX_ITEMS / bulk.seconds
        return seeding

    def lead_time(self, distributions: int, contents: int) -> dt.timedelta:
        """How far ahead the first due time must be for seeding (content, then distributions) and approval to finish
        before it, with margin (which also gives the audit log time to record the seeding: see :meth:`release`)."""
        seconds = 1.5 * (contents / self.approve_rate + contents / self.content_rate + distributions / self.seed_rate)
        return dt.timedelta(seconds=seconds + 10)

    async def seed(self, tag: str, due: list[dt.datetime], media: Sequence[Sequence[str]] = ()) -> Batch:
        """Draft content (one per request) and one distribution per due time, spread over every account, through the
        public API; the distributions through the bulk endpoint, ``BULK_MAX_ITEMS`` a request (single creates, ~230
        a second, took 80 s to seed 300 posts/s for 60 s). ``media``: the media ids of each content item in turn
        (cycled), for posts with media."""
        n, accounts = len(due), len(self.accounts)
        texts = [f"Herald bench {self.run_id} {tag} post {i}" for i in range(contents_needed(n, accounts))]
        attached = [media[i % len(media)] if media else () for i in range(len(texts))]
        content_calls = [
            (lambda t=t, m=m: self.api.create_content(f"Bench {tag}", t, m))
            for t, m in zip(texts, attached, strict=True)
        ]
        content_ids, content_seeding = await bounded(self.options.concurrency, content_calls)
        self.content_rate = content_seeding.per_second
        items = [
            (content_ids[c_index], self.accounts[a_index], at)
            for (c_index, a_index), at in zip(plan(n, accounts), due, strict=True)
        ]
        seeded_from = utcnow()
        requests = [partial(self.api.schedule_many, chunk) for chunk in chunks(items, BULK_MAX_ITEMS)]
        created, sent = await bounded(BULK_CLIENTS, requests)
        seeding = Seeding(n, sent.seconds, BULK_CLIENTS, sent.latency)
        self.seed_rate = seeding.per_second
        distribution_ids = [d for ids in created for d in ids]
        return Batch(tag, distribution_ids, content_ids, min(due), max(due), content_seeding, seeding, seeded_from)

    async def release(self, batch: Batch) -> dict[str, Any]:
        """Approve the batch's content just before its first due time, so nothing was due while it was seeded, once
        the audit log has recorded the batch's ``DistributionScheduled`` events (bulk seeding sends them in a rush:
        the phase measures publishing, not that backlog)."""
        lead = 1.5 * len(batch.content_ids) / self.approve_rate + 2
        approve_at = batch.first_due - dt.timedelta(seconds=lead)
        backlog_drained = await self._audit_caught_up(batch, approve_at)
        await sleep_until(approve_at)
        calls = [(lambda c=c: self.api.approve(c)) for c in batch.content_ids]
        _, approving = await bounded(self.options.concurrency, calls)
        self.approve_rate = approving.per_second
        finished = utcnow()
        overrun = (finished - batch.first_due).total_seconds()
        if overrun > 0:
            say(f"{batch.tag}: approval finished {overrun:.1f} s after the first due time (seeding overran)")
        return {
            "approvals": approving.as_json(),
            "approved_before_due": overrun <= 0,
            "overrun_s": round(overrun, 3),
            "scheduled_events_audited_before_release": backlog_drained,
        }

    async def _audit_caught_up(self, batch: Batch, until: dt.datetime) -> bool:
        """Wait (at most ``until``) for the audit log to hold every ``DistributionScheduled`` of ``batch``."""
        n = len(batch.distribution_ids)
        while await self.db.scheduled_audited(self.api.team_id, batch.seeded_from) < n:
            if utcnow() >= until:
                say(f"{batch.tag}: the audit log had not caught up with the seeding by the release")
                return False
            await asyncio.sleep(SETTLE_POLL_SECONDS)
        return True

    # -- waiting and reading ----------------------------------------------------------------------------------

    async def vacuum(self, after: str, posts: int) -> dict[str, Any]:
        """``VACUUM (ANALYZE)`` the run's database after a phase, then ``CHECKPOINT``, timed, with PostgreSQL's CPU
        for both per post.

        A deployment's PostgreSQL runs autovacuum, which clears the dead row versions a phase leaves (claimed and
        updated distributions, relayed outbox rows, ledger marks) while it runs. Some machines of this kind run
        their server with autovacuum off: there the next phase's statements walked the previous phases' dead rows
        (PostgreSQL 1.1-1.4 ms per post in a burst after the precision phases, 0.7 after a vacuum). Vacuuming at
        each phase's end gives every phase the table state a deployment has, and reports what the vacuum cost.

        The checkpoint writes the phase's pages out before the next phase starts. Without it the scale phase's
        million SQL-seeded rows (about 0.5 GB of WAL in a minute) set off a checkpoint that was still writing during
        the scheduling phase, where the first change to each page after a checkpoint starts logs the whole page:
        single creates measured p99 237 ms against p95 50 ms (``bc361b36``). A deployment gains its rows over months,
        with checkpoints spread between them; the seeding is the benchmark's shortcut, so its aftermath is its own.
        """
        cpu = CpuMeter(self.monitor)
        began = time.monotonic()
        await self.db.retrying(lambda conn: conn.execute("VACUUM (ANALYZE)"))
        vacuumed = time.monotonic()
        await self.db.retrying(lambda conn: conn.execute("CHECKPOINT"))
        seconds, checkpoint = vacuumed - began, time.monotonic() - vacuumed
        window = cpu.read()
        used = window.by_process.get("postgresql", 0.0)
        per_post = window.per_item_ms(posts).get("postgresql") if posts else None
        say(
            f"{after}: vacuumed in {seconds:.1f} s and checkpointed in {checkpoint:.1f} s"
            f" ({used:.2f} s of PostgreSQL CPU, {per_post} ms per post)"
        )
        return {
            "seconds": round(seconds, 2),
            "checkpoint_seconds": round(checkpoint, 2),
            "postgresql_cpu_seconds": round(used, 2),
            "ms_per_post": per_post,
        }

    async def settle(self, batch: Batch, released: dt.datetime) -> Settled:
        """Wait until every distribution of ``batch`` is final and its outcome is in the audit log (polling from its
        last due time on: see ``SAMPLE_EVERY``)."""
        n = len(batch.distribution_ids)
        since, before = batch.window
        team = self.api.team_id
        outcomes_since = released - dt.timedelta(seconds=1)
        await sleep_until(batch.last_due)  # the phase cannot end before then
        began = time.monotonic()
        deadline = began + self.options.settle_timeout_seconds
        progress: list[tuple[float, int, int]] = []
        last_said = began
        statuses: dict[str, int] = {}
        final = audited = 0
        polls = 0
        while True:
            sample = polls % SAMPLE_EVERY == 0
            polls += 1
            if final < n and (sample or not await self.db.any_open(team, since, before)):
                statuses = await self.db.statuses(team, since, before)
                final = sum(statuses.get(s, 0) for s in TERMINAL)
            if sample or final >= n:
                audited = await self.db.outcomes_audited(team, outcomes_since)
                elapsed = max((utcnow() - released).total_seconds(), 0.0)
                progress.append((round(elapsed, 2), final, audited))
            if final >= n and audited >= n:
                return Settled(statuses, audited, False, progress)
            if time.monotonic() > deadline:
                return Settled(statuses, audited, True, progress)
            if time.monotonic() - last_said > 10:
                say(f"{batch.tag}: {final}/{n} final, {audited}/{n} audited (last counted)")
                last_said = time.monotonic()
            await asyncio.sleep(SETTLE_POLL_SECONDS)

    async def lateness(self, batch: Batch) -> tuple[list[float], list[dict[str, Any]]]:
        """published_at - scheduled_at of each published distribution of ``batch`` (scheduler API)."""
        since, before = batch.window
        items = await self.api.distributions(since, before)
        late = [
            (
                dt.datetime.fromisoformat(d["published_at"]) - dt.datetime.fromisoformat(d["scheduled_at"])
            ).total_seconds()
            for d in items
            if d["status"] == "published" and d["published_at"]
        ]
        return late, items

    async def claim_buckets(self) -> Buckets:
        return histogram_buckets(await self.api.metrics(self.stack.url("scheduler")), CLAIM_METRIC)


def chunks(items: Sequence[T], size: int) -> list[Sequence[T]]:
    """``items`` in order, ``size`` at a time (the last chunk may be shorter)."""
    return [items[i : i + size] for i in range(0, len(items), size)]


async def sleep_until(moment: dt.datetime) -> None:
    wait = (moment - utcnow()).total_seconds()
    if wait > 0:
        await asyncio.sleep(wait)


def claim_lateness(after: Buckets, before: Buckets) -> dict[str, Any]:
    """The due loop's own claim lateness (claim time - due time) over a phase, from its histogram."""
    delta = bucket_delta(after, before)
    total = max(delta.values(), default=0.0)
    if total <= 0:
        return {"claimed": 0}
    return {
        "claimed": int(total),
        "p50_ms": round(histogram_quantile(0.5, delta) * 1000, 1),
        "p99_ms": round(histogram_quantile(0.99, delta) * 1000, 1),
        "source": f"{CLAIM_METRIC} (bucket-interpolated)",
    }


def lateness_json(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"count": 0}
    return summarise(values).as_ms()
