"""Read-only progress queries on the services' schemas (cheap to poll, so the measured run is not disturbed by
paging the public APIs every few hundred milliseconds). Final figures come from the public APIs where they can."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg

T = TypeVar("T")
RETRY_SECONDS = 120
"""How long a progress query keeps retrying while PostgreSQL is away (something else on the machine restarted it)."""
TRANSIENT = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,  # a pooled connection left mid-operation when the server went away
)

TERMINAL = ("published", "failed", "unconfirmed", "cancelled", "missed")
SCHEDULED_ACTION = "distribution_scheduled"
OUTCOME_ACTIONS = ("content_published", "content_publish_failed", "content_publish_unconfirmed")


def asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


class Database:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    @classmethod
    async def open(cls, url: str) -> Database:
        return cls(await asyncpg.create_pool(asyncpg_dsn(url), min_size=1, max_size=4))

    async def close(self) -> None:
        await self.pool.close()

    async def retrying(self, query: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        """Run ``query`` on a pooled connection, retrying while PostgreSQL is restarting."""
        deadline = time.monotonic() + RETRY_SECONDS
        while True:
            try:
                async with self.pool.acquire() as conn:
                    return await query(conn)
            except TRANSIENT:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(1)

    async def value(self, sql: str, *args: Any) -> Any:
        return await self.retrying(lambda conn: conn.fetchval(sql, *args))

    async def known_accounts(self, team_id: str) -> int:
        """Accounts the scheduler has learnt about (from ``AccountConnected``)."""
        return int(await self.value("SELECT count(*) FROM scheduler.accounts WHERE team_id = $1", _uuid(team_id)))

    async def statuses(self, team_id: str, since: dt.datetime, before: dt.datetime) -> dict[str, int]:
        """Distributions due in ``[since, before)`` by status."""
        sql = """SELECT status, count(*) FROM scheduler.distributions
                 WHERE team_id = $1 AND scheduled_at >= $2 AND scheduled_at < $3 GROUP BY status"""
        rows = await self.retrying(lambda conn: conn.fetch(sql, _uuid(team_id), since, before))
        return {str(r[0]): int(r[1]) for r in rows}

    async def any_open(self, team_id: str, since: dt.datetime, before: dt.datetime) -> bool:
        """Whether a distribution due in ``[since, before)`` is not final yet. Scans from the latest due time back
        and stops at the first open one, so it reads few rows until nearly all are final (the full count reads
        every row of the window)."""
        sql = """SELECT 1 FROM scheduler.distributions
                 WHERE team_id = $1 AND scheduled_at >= $2 AND scheduled_at < $3 AND status <> ALL($4::text[])
                 ORDER BY scheduled_at DESC LIMIT 1"""
        found = await self.value(sql, _uuid(team_id), since, before, list(TERMINAL))
        return found is not None

    async def last_update(self, team_id: str, since: dt.datetime, before: dt.datetime) -> dt.datetime:
        """When the scheduler last changed a distribution due in ``[since, before)`` (it learnt the outcome)."""
        sql = """SELECT max(updated_at) FROM scheduler.distributions
                 WHERE team_id = $1 AND scheduled_at >= $2 AND scheduled_at < $3"""
        moment: dt.datetime = await self.value(sql, _uuid(team_id), since, before)
        return moment

    async def outcomes_audited(self, team_id: str, since: dt.datetime) -> int:
        """Publish outcomes in the audit log that occurred from ``since`` on."""
        sql = """SELECT count(*) FROM audit.events
                 WHERE team_id = $1 AND occurred_at >= $2 AND action = ANY($3::text[])"""
        return int(await self.value(sql, _uuid(team_id), since, list(OUTCOME_ACTIONS)))

    async def scheduled_audited(self, team_id: str, since: dt.datetime) -> int:
        """``DistributionScheduled`` events in the audit log that occurred from ``since`` on."""
        sql = "SELECT count(*) FROM audit.events WHERE team_id = $1 AND occurred_at >= $2 AND action = $3"
        return int(await self.value(sql, _uuid(team_id), since, SCHEDULED_ACTION))

    async def last_outcome_recorded(self, team_id: str, since: dt.datetime) -> dt.datetime:
        sql = """SELECT max(recorded_at) FROM audit.events
                 WHERE team_id = $1 AND occurred_at >= $2 AND action = ANY($3::text[])"""
        moment: dt.datetime = await self.value(sql, _uuid(team_id), since, list(OUTCOME_ACTIONS))
        return moment

    async def audit_rows(self, team_id: str) -> tuple[int, dt.datetime | None]:
        """(rows, last recorded_at) of a team in the audit log."""
        sql = "SELECT count(*), max(recorded_at) FROM audit.events WHERE team_id = $1"
        row = await self.retrying(lambda conn: conn.fetchrow(sql, _uuid(team_id)))
        assert row is not None
        return int(row[0]), row[1]

    async def now(self) -> dt.datetime:
        moment: dt.datetime = await self.value("SELECT clock_timestamp()")
        return moment


def _uuid(value: str) -> uuid.UUID:
    return uuid.UUID(value)
