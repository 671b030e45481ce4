"""Precision: ``rate`` posts per second, each with its own due time, for ``seconds``; how late is each one?

Due times are ``1/rate`` apart, round-robin over every account; they are seeded through the bulk endpoint on draft
content, approved just before the first is due once the audit log has recorded the seeding (:meth:`Harness.release`),
so the run measures publishing alone. Lateness is ``published_at - scheduled_at`` as the
scheduler API reports it (``published_at`` is when the publisher had the platform's answer). The due loop's own
claim lateness (its ``herald_due_loop_lateness_seconds`` histogram) splits that into "claimed late" and "delivered
late".
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from bench.harness import Harness, batch_summary, claim_lateness, contents_needed, lateness_json, say, utcnow
from bench.resources import CpuMeter


async def run(h: Harness, rate: int, seconds: int, tag: str = "precision") -> dict[str, Any]:
    n = rate * seconds
    step = dt.timedelta(seconds=1 / rate)
    first = utcnow() + h.lead_time(n, contents_needed(n, len(h.accounts)))
    due = [first + i * step for i in range(n)]
    say(f"{tag}: seeding {n} distributions ({rate}/s for {seconds} s), first due {first:%H:%M:%S}")
    batch = await h.seed(tag, due)
    say(f"{tag}: seeded at {batch.seeding.per_second:.0f}/s; releasing")
    before = await h.claim_buckets()
    release = await h.release(batch)
    cpu = CpuMeter(h.monitor)
    settled = await h.settle(batch, batch.first_due)
    cpu_window = cpu.read()
    after = await h.claim_buckets()
    late, items = await h.lateness(batch)
    summary = lateness_json(late)
    say(f"{tag}: p50 {summary.get('p50')} ms, p99 {summary.get('p99')} ms")
    return {
        "rate_per_second": rate,
        "seconds": seconds,
        "distributions": n,
        **batch_summary(batch, release, settled, len(late)),
        "lateness_ms": summary,
        "claim_lateness": claim_lateness(after, before),
        "listed": len(items),
        "cpu": cpu_window.as_json(),
        "cpu_ms_per_post": cpu_window.per_item_ms(len(late)),
    }
