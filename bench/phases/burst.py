"""Burst: ``size`` distributions over every account on the three platforms, all due at the same instant.

Measured from that instant: when the last post was on its platform (``published_at``), when the scheduler had
every outcome, when the audit log had every outcome; posts per second until all were published *and* audited;
lateness percentiles; the due loop's claim lateness; peak RSS and CPU seconds of every process meanwhile (and,
with ``--profile``, a py-spy profile of each service). The vacuum of the database after the burst is counted in its
CPU per post (:func:`add_vacuum`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

from bench import profile
from bench.harness import (
    Harness,
    batch_summary,
    claim_lateness,
    contents_needed,
    lateness_json,
    say,
    sleep_until,
    utcnow,
)
from bench.resources import CpuMeter
from bench.stack import SERVICES
from bench.stats import rate

PROGRESS_POINTS = 60


async def run(h: Harness, size: int, profile_dir: Path | None) -> dict[str, Any]:
    due_at = utcnow() + h.lead_time(size, contents_needed(size, len(h.accounts)))
    say(f"burst: seeding {size} distributions over {len(h.accounts)} accounts, all due at {due_at:%H:%M:%S}")
    batch = await h.seed("burst", [due_at] * size)
    say(f"burst: seeded at {batch.seeding.per_second:.0f}/s; releasing")
    before = await h.claim_buckets()
    release = await h.release(batch)
    await sleep_until(due_at)

    stop_sampling = asyncio.Event()
    peak_task = asyncio.create_task(h.monitor.peak_rss(stop_sampling))
    cpu = CpuMeter(h.monitor)
    recordings = profile.start({s: h.stack.pids()[s] for s in SERVICES}, profile_dir) if profile_dir is not None else []
    try:
        settled = await h.settle(batch, due_at)
    finally:
        profiles = profile.stop(recordings) if recordings else {}
        stop_sampling.set()
    cpu_window = cpu.read()
    peak = await peak_task
    after = await h.claim_buckets()

    late, items = await h.lateness(batch)
    published = [dt.datetime.fromisoformat(d["published_at"]) for d in items if d["published_at"]]
    since, before_ts = batch.window
    last_update = await h.db.last_update(h.api.team_id, since, before_ts)
    last_audit = await h.db.last_outcome_recorded(h.api.team_id, due_at - dt.timedelta(seconds=1))
    to_platform = (max(published) - due_at).total_seconds() if published else None
    to_scheduler = (last_update - due_at).total_seconds()
    to_audit = (last_audit - due_at).total_seconds() if last_audit else None
    until_done = max(to_scheduler, to_audit or 0.0)
    result: dict[str, Any] = {
        "distributions": size,
        "accounts": len(h.accounts),
        **batch_summary(batch, release, settled, len(late)),
        "seconds_to_last_on_platform": _round(to_platform),
        "seconds_to_last_in_scheduler": _round(to_scheduler),
        "seconds_to_last_audited": _round(to_audit),
        "seconds_until_all_published_and_audited": _round(until_done),
        "posts_per_second": round(rate(len(late), until_done), 1) if late and until_done > 0 else None,
        "posts_per_second_to_platform": round(rate(len(late), to_platform), 1) if late and to_platform else None,
        "lateness_ms": lateness_json(late),
        "claim_lateness": claim_lateness(after, before),
        "peak_rss_mib": {k: round(v, 1) for k, v in sorted(peak.items())},
        "cpu": cpu_window.as_json(),
        "cpu_ms_per_post": cpu_window.per_item_ms(len(late)),
        "progress": _thin(settled.progress),
    }
    if profiles:
        result["profiles"] = profiles
    say(
        f"burst: {len(late)} published, all published and audited after {until_done:.1f} s "
        f"({result['posts_per_second']} posts/s)"
    )
    return result


def add_vacuum(result: dict[str, Any], vacuum: dict[str, Any]) -> None:
    """Record the vacuum after the burst and count its PostgreSQL CPU in the burst's cost per post: a deployment's
    autovacuum spends it on these posts' dead rows, so it belongs to what a post costs (``postgresql_vacuum``, also
    in ``total``)."""
    result["vacuum_after"] = vacuum
    per_post = result.get("cpu_ms_per_post") or {}
    extra = vacuum.get("ms_per_post")
    if extra and "total" in per_post:
        total = per_post.pop("total")
        per_post["postgresql_vacuum"] = round(extra, 2)
        per_post["total"] = round(total + extra, 2)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _thin(progress: list[tuple[float, int, int]]) -> list[list[float]]:
    """At most ~``PROGRESS_POINTS`` samples of (seconds, final, audited), keeping the last."""
    step = max(len(progress) // PROGRESS_POINTS, 1)
    kept = progress[::step]
    if progress and kept[-1] != progress[-1]:
        kept.append(progress[-1])
    return [list(p) for p in kept]
