"""Scale: does the due loop's claim stay fast with 10k, then 1M, future distributions in the table?

The future rows are written with SQL straight into the scheduler's schema (``INSERT ... SELECT generate_series``;
seeding a million through the API would measure the API, not the claim), due in 30+ days, for approved content, then
``ANALYZE``d. At each size:

* the service's own queries, imported from ``herald.scheduler.repository`` and timed here: ``claim_due`` claiming a
  full batch (that many due rows are inserted inside the timing transaction, which is rolled back, so the running
  scheduler never sees them) and ``due_outlook`` (what the loop runs after each claim to know how long to sleep),
  plus an idle pass (claim with nothing due, then the outlook);
* ``EXPLAIN (ANALYZE, BUFFERS)`` of exactly those statements, as the service sends them;
* a small precision probe through the whole system (the due loop's lateness metric and published lateness).
"""

from __future__ import annotations

import datetime as dt
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from bench.client import Account
from bench.harness import Harness, say, utcnow
from bench.phases import precision
from bench.stats import summarise
from herald.scheduler import repository as repo
from herald.scheduler.settings import SchedulerSettings

SCHEMA = "scheduler"
CHUNK = 100_000
REPEATS = 30
FUTURE = dt.timedelta(days=30)
EXECUTION = re.compile(r"Execution Time: ([0-9.]+) ms")

ROWS_PER_CONTENT = 10
"""Future rows per content item (a post goes to a handful of accounts), so the table looks like real use."""

INSERT_CONTENTS = """
INSERT INTO contents (content_id, team_id, title, text, status, approved_at, approved_by)
SELECT CAST(md5(:tag || g) AS uuid), :team, 'Bench scale', 'Herald bench scale content ' || g, 'approved', now(),
       'bench'
FROM generate_series(CAST(:first AS int), CAST(:last AS int)) AS g
"""
INSERT_ROWS = """
INSERT INTO distributions (distribution_id, team_id, content_id, account_id, platform, status, scheduled_at,
                           max_attempts, base_delay_seconds, misfire_policy, misfire_window_seconds, over_length)
SELECT gen_random_uuid(), :team, CAST(md5(:tag || ((g - 1) / :per + 1)) AS uuid), :account, :platform, 'scheduled',
       CAST(:base AS timestamptz) + g * CAST(:step AS interval), 5, 300, 'publish_late', 86400, 'reject'
FROM generate_series(CAST(:first AS int), CAST(:last AS int)) AS g
"""


def batch_size() -> int:
    return int(SchedulerSettings.model_fields["due_batch_size"].default)


@dataclass(frozen=True)
class Rows:
    """Where SQL-seeded rows go: which team and account, content ids derived from ``tag``, due from ``base``."""

    team: str
    account: Account
    tag: str
    base: dt.datetime
    step: dt.timedelta

    async def insert(self, conn: AsyncConnection, first: int, last: int) -> None:
        """Rows ``first..last`` (1-based) and the approved content items they belong to."""
        common = {"team": uuid.UUID(self.team), "tag": self.tag}
        first_content, last_content = (first - 1) // ROWS_PER_CONTENT + 1, (last - 1) // ROWS_PER_CONTENT + 1
        await conn.execute(
            text(INSERT_CONTENTS + " ON CONFLICT (content_id) DO NOTHING"),
            {**common, "first": first_content, "last": last_content},
        )
        await conn.execute(
            text(INSERT_ROWS),
            {
                **common,
                "account": uuid.UUID(self.account.id),
                "platform": self.account.platform.value,
                "per": ROWS_PER_CONTENT,
                "first": first,
                "last": last,
                "base": self.base,
                "step": self.step,
            },
        )


class Queries:
    """The scheduler's due-loop queries on their own engine, with the SQL they send captured for EXPLAIN."""

    def __init__(self, database_url: str) -> None:
        self.engine: AsyncEngine = create_async_engine(
            database_url, pool_size=1, connect_args={"server_settings": {"search_path": SCHEMA}}
        )
        self.captured: list[tuple[str, Any]] = []
        event.listen(self.engine.sync_engine, "before_cursor_execute", self._capture)

    def _capture(self, _conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        self.captured.append((statement, parameters))

    async def close(self) -> None:
        await self.engine.dispose()

    async def timed(self, call: Callable[[], Awaitable[Any]]) -> tuple[float, list[tuple[str, Any]]]:
        """Run one repository call; its duration and every statement it sent (due_outlook: a SET, then two queries)."""
        self.captured.clear()
        began = time.perf_counter()
        await call()
        elapsed = time.perf_counter() - began
        return elapsed, list(self.captured)

    async def explain(self, conn: AsyncConnection, statements: list[tuple[str, Any]]) -> list[str]:
        """EXPLAIN (ANALYZE, BUFFERS) of each statement, plans one after the other."""
        lines: list[str] = []
        statements = [(sql, args) for sql, args in statements if not sql.lstrip().upper().startswith("SET ")]  # no plan
        for i, (statement, parameters) in enumerate(statements):
            if len(statements) > 1:
                lines.append(f"-- statement {i + 1} of {len(statements)}")
            result = await conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
            lines += [str(row[0]) for row in result]
        return lines


async def measure(queries: Queries, due: Rows) -> dict[str, Any]:
    """Time the claim of a full batch, the outlook, and an idle pass; EXPLAIN the claim and the outlook."""
    claims: list[float] = []
    outlooks: list[float] = []
    idle: list[float] = []
    plans: dict[str, list[str]] = {}
    limit = batch_size()
    async with queries.engine.connect() as conn:
        for i in range(REPEATS + 1):
            tx = await conn.begin()
            claim_idle, _ = await queries.timed(lambda: repo.claim_due(conn, limit))
            outlook_idle, _ = await queries.timed(lambda: repo.due_outlook(conn))
            await due.insert(conn, 1, limit)  # visible to this transaction only; rolled back below
            claim, claim_sql = await queries.timed(lambda: repo.claim_due(conn, limit))
            outlook, outlook_sql = await queries.timed(lambda: repo.due_outlook(conn))
            await tx.rollback()
            if i == 0:
                continue  # warm-up: the first run prepares statements and fills caches
            idle.append(claim_idle + outlook_idle)
            claims.append(claim)
            outlooks.append(outlook)
        async with conn.begin() as tx:
            await due.insert(conn, 1, limit)
            plans["claim_due"] = await queries.explain(conn, claim_sql)
            plans["due_outlook"] = await queries.explain(conn, outlook_sql)
            await tx.rollback()
    return {
        "batch": limit,
        "repeats": REPEATS,
        "claim_batch_ms": summarise(claims).as_ms(),
        "outlook_ms": summarise(outlooks).as_ms(),
        "idle_pass_ms": summarise(idle).as_ms(),
        "explain": plans,
        "explain_execution_ms": {name: _execution_ms(lines) for name, lines in plans.items()},
    }


async def run(h: Harness, sizes: tuple[int, ...], probe_rate: int, probe_seconds: int) -> dict[str, Any]:
    account = h.accounts[0]
    now = utcnow()
    future = Rows(h.api.team_id, account, f"{h.run_id}-future-", now + FUTURE, dt.timedelta(seconds=1))
    due = Rows(h.api.team_id, account, f"{h.run_id}-due-", now - dt.timedelta(hours=1), dt.timedelta(milliseconds=1))
    queries = Queries(h.stack.database_url)
    results = []
    inserted = 0
    try:
        for size in sizes:
            began = time.perf_counter()
            for first in range(inserted + 1, size + 1, CHUNK):
                last = min(first + CHUNK - 1, size)
                async with queries.engine.begin() as conn:
                    await future.insert(conn, first, last)
                say(f"scale: {last:,} future rows written")
            inserted = size
            async with queries.engine.connect() as conn:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                await conn.execute(text("ANALYZE contents"))  # what autovacuum would have done by now
                await conn.execute(text("ANALYZE distributions"))
            seeded = time.perf_counter() - began
            waiting = await h.db.value("SELECT count(*) FROM scheduler.distributions WHERE status = 'scheduled'")
            say(f"scale: {waiting:,} scheduled rows in the table; timing the due loop's queries")
            timings = await measure(queries, due)
            probe = await precision.run(h, probe_rate, probe_seconds, tag=f"scale-{size}")
            results.append(
                {
                    "future_rows": size,
                    "scheduled_rows_in_table": int(waiting),
                    "seeded_by_sql_seconds": round(seeded, 1),
                    **timings,
                    "probe": probe,
                }
            )
    finally:
        await queries.close()
    return {
        "seeding": "future rows (10 per approved content item, due in 30+ days) written with SQL straight into the"
        " scheduler schema, then ANALYZEd; not through the API: this phase measures the due loop's queries",
        "sizes": results,
    }


def _execution_ms(lines: list[str]) -> float | None:
    """Server-side execution time of a plan (summed over its statements)."""
    times = [float(match.group(1)) for line in lines if (match := EXECUTION.search(line))]
    return round(sum(times), 3) if times else None
