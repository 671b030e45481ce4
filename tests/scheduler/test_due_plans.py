"""The due loop's queries keep their plan when the planner's statistics are stale: they walk the due index in due
order and stop at their LIMIT, whatever the planner believes about how many contents are approved."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy import event

from herald.kit import db
from herald.kit.migrations import upgrade
from herald.kit.settings import ServiceSettings
from herald.scheduler import repository as repo
from herald.scheduler.main import MIGRATIONS

SCHEMA = "scheduler_due_plans"
JOINS = ("Nested Loop", "Hash Join", "Merge Join")


@pytest.fixture
async def stale(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """10,000 waiting distributions (half of them due: a burst) of 50 contents that were drafts at the last ANALYZE
    and have been approved since: the planner believes no content is approved."""
    await upgrade(database_url, MIGRATIONS, SCHEMA)
    dsn = database_url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn, server_settings={"search_path": SCHEMA})
    try:
        await conn.execute("TRUNCATE distributions, contents CASCADE")
        team, now = uuid.uuid4(), dt.datetime.now(dt.UTC)
        contents = [uuid.uuid4() for _ in range(50)]
        await conn.executemany(
            "INSERT INTO contents (content_id, team_id, title, text, status, created_at, updated_at)"
            " VALUES ($1, $2, 't', 'text', 'draft', now(), now())",
            [(c, team) for c in contents],
        )
        await conn.executemany(
            "INSERT INTO distributions (distribution_id, team_id, content_id, account_id, platform, status,"
            " scheduled_at, max_attempts, base_delay_seconds, misfire_policy, misfire_window_seconds, over_length,"
            " created_at, updated_at) VALUES ($1, $2, $3, $4, 'x', 'scheduled', $5, 5, 30, 'publish_late', 86400,"
            " 'reject', now(), now())",
            # Scheduled in no particular order, as bulk scheduling writes them: the table is not in due order.
            random.Random(7).sample(
                [
                    (uuid.uuid4(), team, contents[i % 50], uuid.uuid4(), now + dt.timedelta(seconds=i - 5000))
                    for i in range(10_000)
                ],
                10_000,
            ),
        )
        await conn.execute("ANALYZE contents")
        await conn.execute("ANALYZE distributions")
        await conn.execute("UPDATE contents SET status = 'approved'")
        yield conn
    finally:
        await conn.close()


async def plan(conn: asyncpg.Connection, sql: str, *args: object) -> str:
    rows = await conn.fetch(f"EXPLAIN {sql}", *args)
    return "\n".join(row[0] for row in rows)


async def test_the_claim_walks_the_due_index_even_when_no_content_looks_approved(stale: asyncpg.Connection) -> None:
    async with stale.transaction():
        shown = await plan(stale, repo._CLAIM_DUE, 285)
        claimed = await stale.fetch(repo._CLAIM_DUE, 285)
    assert "Index Scan using ix_distributions_due" in shown
    assert not any(join in shown for join in JOINS), shown
    assert "Sort" not in shown, shown  # stops after ~LIMIT rows, does not read and sort every due row
    assert len(claimed) == 285  # due rows of approved content, in due order
    assert [row["scheduled_at"] for row in claimed] == sorted(row["scheduled_at"] for row in claimed)


async def test_the_outlook_walks_the_due_index_even_when_no_content_looks_approved(
    stale: asyncpg.Connection, database_url: str
) -> None:
    engine = db.create_engine(ServiceSettings(database_url=database_url, service_name="due-plans"), SCHEMA)
    captured: list[tuple[str, tuple[object, ...]]] = []

    def record(_conn: object, _cursor: object, statement: str, parameters: object, *_: object) -> None:
        captured.append((statement, tuple(parameters) if isinstance(parameters, (list, tuple)) else ()))

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        async with engine.connect() as conn:
            outlook = await repo.due_outlook(conn)
    finally:
        await engine.dispose()
    assert 5000 <= outlook.backlog <= 5010  # due by now: the rows scheduled up to the fixture's time, and since
    assert outlook.seconds_to_next is not None
    assert outlook.seconds_to_next <= 0
    queries = [(sql, args) for sql, args in captured if "distributions" in sql]
    assert len(queries) == 2  # the next due time, the backlog
    for sql, args in queries:
        shown = await plan(stale, sql, *args)
        assert "ix_distributions_due" in shown
        assert not any(join in shown for join in JOINS), shown
