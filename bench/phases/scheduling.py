"""Scheduling through the API: how fast a team schedules distributions, one per request and in bulk.

* single creates: ``POST /v1/distributions`` from ``concurrency`` (32) clients in a closed loop (each sends its
  next request when the last is answered); calls per second and each call's latency (p50 / p95 / p99). In a closed
  loop the latency is the clients' count over the throughput (Little's law), so it also measures how fast the
  whole machine can go;
* single creates paced at ``PACED_RATE`` per second from up to 32 clients (an open loop: each call is due at its
  time, and its latency counts from then, so waiting for a free client is included): the latency of a create
  when the system is not saturated;
* bulk: ``POST /v1/distributions/bulk`` with the largest batch the API takes, from ``BULK_CLIENTS`` clients at
  once; distributions per second from the first request to the last answer, and each request's latency.

Both also report the scheduler's CPU per distribution (it holds whatever else the machine runs). Everything is
scheduled a year ahead on draft content, so nothing becomes due; the phase runs last because each distribution
sends a ``DistributionScheduled`` event to the audit service.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from bench import profile
from bench.client import Account, Seeding, bounded, client_collector_paused
from bench.harness import BULK_CLIENTS, Harness, say, utcnow
from bench.resources import CpuMeter
from bench.stats import summarise
from herald.scheduler.schemas import BULK_MAX_ITEMS

WARM_UP_CALLS = 100
PACED_RATE = 50
PACED_SECONDS = 10
SETTLE_SECONDS = 5
"""Before the paced calls: the relay and the audit service catch up with the closed loop's events."""
"""Untimed single creates first: the scheduler's connection pool, statement caches and key cache fill up."""
CONTENTS = 10
T = TypeVar("T")


async def run(h: Harness, single_calls: int, bulk_requests: int, profile_dir: Path | None = None) -> dict[str, Any]:
    """The three measurements; with ``profile_dir``, py-spy profiles of the scheduler and of the benchmark's own
    client during the closed-loop single creates."""
    contents = [
        await h.api.create_content("Bench scheduling", f"Herald bench {h.run_id} schedule {i}") for i in range(CONTENTS)
    ]
    when = utcnow() + dt.timedelta(days=365)
    accounts = h.accounts
    lean = h.api.lean("scheduler")  # the client's own CPU competes with the scheduler's: keep it small

    def single(i: int) -> Callable[[], Awaitable[str]]:
        return partial(
            h.api.schedule,
            contents[i % CONTENTS],
            accounts[i % len(accounts)],
            when + dt.timedelta(seconds=i),
            lean=lean,
        )

    await bounded(h.options.concurrency, [single(i) for i in range(WARM_UP_CALLS)])
    say(f"scheduling: {single_calls} single creates, {h.options.concurrency} clients")
    profiled = {"scheduler": h.stack.pids()["scheduler"], "bench client": os.getpid()}
    recordings = profile.start(profiled, profile_dir) if profile_dir is not None else []
    cpu = CpuMeter(h.monitor)
    client_cpu = time.process_time()
    try:
        _, singles = await bounded(h.options.concurrency, [single(WARM_UP_CALLS + i) for i in range(single_calls)])
    finally:
        single_cpu = cpu.read()
        client_cpu = time.process_time() - client_cpu
        profiles = profile.stop(recordings) if recordings else {}
    say(
        f"scheduling: single {singles.per_second:.0f}/s, p50 {singles.latency.p50 * 1000:.0f} ms, p99"
        f" {singles.latency.p99 * 1000:.0f} ms"
    )

    await asyncio.sleep(SETTLE_SECONDS)
    say(f"scheduling: single creates paced at {PACED_RATE}/s for {PACED_SECONDS} s")
    first = WARM_UP_CALLS + single_calls
    calls = [single(first + i) for i in range(PACED_RATE * PACED_SECONDS)]
    paced = await open_loop(calls, PACED_RATE, h.options.concurrency)
    await lean.close()

    def batch(r: int) -> list[tuple[str, Account, dt.datetime]]:
        first = r * BULK_MAX_ITEMS
        return [
            (contents[(first + i) % CONTENTS], accounts[i % len(accounts)], when + dt.timedelta(seconds=first + i))
            for i in range(BULK_MAX_ITEMS)
        ]

    batches = [batch(r) for r in range(bulk_requests)]
    say(f"scheduling: {bulk_requests} bulk requests of {BULK_MAX_ITEMS}, {BULK_CLIENTS} clients")
    cpu = CpuMeter(h.monitor)
    created, bulk = await bounded(BULK_CLIENTS, [partial(h.api.schedule_many, b) for b in batches])
    bulk_cpu = cpu.read()
    distributions = sum(len(ids) for ids in created)
    rate = distributions / bulk.seconds
    say(f"scheduling: bulk {rate:.0f} distributions/s")
    return {
        "single": {
            **singles.as_json(),
            "scheduler_cpu_ms_per_call": _scheduler_ms(single_cpu.by_process, singles.count),
            "bench_client_cpu_ms_per_call": round(client_cpu * 1000 / max(singles.count, 1), 3),
            "cpu_ms_per_call": single_cpu.per_item_ms(singles.count),
            "cpu": single_cpu.as_json(),
            **({"profiles": profiles} if profiles else {}),
        },
        "single_paced": {**paced.as_json(), "rate_per_second": PACED_RATE},
        "bulk": {
            "requests": bulk.as_json(),
            "items_per_request": BULK_MAX_ITEMS,
            "distributions": distributions,
            "distributions_per_second": round(rate, 1),
            "scheduler_cpu_ms_per_distribution": _scheduler_ms(bulk_cpu.by_process, distributions),
            "cpu": bulk_cpu.as_json(),
        },
    }


def _scheduler_ms(by_process: dict[str, float], count: int) -> float | None:
    seconds = by_process.get("scheduler")
    return None if seconds is None or not count else round(seconds * 1000 / count, 3)


async def open_loop(calls: Sequence[Callable[[], Awaitable[T]]], rate: float, concurrency: int) -> Seeding:
    """Call ``calls[i]`` at ``i / rate`` seconds (or as soon as one of ``concurrency`` clients is free after that);
    each latency counts from the call's due time."""
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []
    began = time.perf_counter()

    async def one(i: int, call: Callable[[], Awaitable[T]]) -> None:
        due = began + i / rate
        await asyncio.sleep(max(due - time.perf_counter(), 0.0))
        async with gate:
            await call()
        latencies.append(time.perf_counter() - due)

    with client_collector_paused():
        await asyncio.gather(*(one(i, call) for i, call in enumerate(calls)))
    return Seeding(len(calls), time.perf_counter() - began, concurrency, summarise(latencies or [0.0]))
