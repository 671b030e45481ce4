"""The due loop's outlook (next due time and backlog gauge) on a schema of its own, with no scheduler running: what
it counts is exactly what the rows say."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from herald.kit import db
from herald.kit.migrations import upgrade
from herald.scheduler import repository as repo
from herald.scheduler.main import MIGRATIONS
from tests.scheduler.support import settings_for


@pytest.fixture
async def engine(database_url: str, amqp_url: str) -> AsyncIterator[AsyncEngine]:
    settings = settings_for(database_url, amqp_url, db_schema=f"scheduler_outlook_{uuid.uuid4().hex[:6]}")
    await upgrade(settings.database_url.get_secret_value(), MIGRATIONS, settings.db_schema)
    engine = db.create_engine(settings, settings.db_schema, pool_size=1)
    yield engine
    await engine.dispose()


async def add(engine: AsyncEngine, content_status: str, *due_in: tuple[str, dt.timedelta]) -> None:
    """One content item in ``content_status`` and a distribution per (status, offset from now) in ``due_in``."""
    content_id = uuid.uuid4()
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO contents (content_id, team_id, title, text, status)"
                " VALUES (:content_id, gen_random_uuid(), 't', 'x', :status)"
            ),
            {"content_id": content_id, "status": content_status},
        )
        for status, offset in due_in:
            await conn.execute(
                text(
                    "INSERT INTO distributions (distribution_id, team_id, content_id, account_id, platform, status,"
                    " scheduled_at, max_attempts, base_delay_seconds, misfire_policy, misfire_window_seconds,"
                    " over_length) VALUES (gen_random_uuid(), gen_random_uuid(), :content_id, gen_random_uuid(), 'x',"
                    " :status, now() + :offset, 3, 30, 'publish_late', 86400, 'reject')"
                ),
                {"content_id": content_id, "status": status, "offset": offset},
            )


async def test_the_backlog_counts_due_waiting_distributions_of_approved_content_only(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        assert await repo.due_outlook(conn) == repo.DueOutlook(backlog=0, seconds_to_next=None)

    ago = dt.timedelta(seconds=-1)
    await add(engine, "draft", ("scheduled", 7200 * ago), ("scheduled", 10800 * ago))  # waits for approval
    await add(engine, "approved", ("scheduled", 60 * ago), ("scheduled", 30 * ago), ("queued", 18000 * ago))
    await add(engine, "approved", ("scheduled", 10 * ago), ("scheduled", -3600 * ago))

    async with engine.connect() as conn:
        outlook = await repo.due_outlook(conn)
    assert outlook.backlog == 3
    # The earliest waiting distribution of approved content: the one due a minute ago (not the draft's, nor the
    # queued one).
    assert outlook.seconds_to_next is not None
    assert -120 < outlook.seconds_to_next <= -60


async def test_the_due_loops_own_next_due_statement_agrees_with_the_outlook(engine: AsyncEngine) -> None:
    async def next_due() -> float | None:
        async with engine.connect() as conn:
            driver = (await conn.get_raw_connection()).driver_connection
            return await repo.seconds_to_next_due_set(driver)

    assert await next_due() is None
    ahead = dt.timedelta(seconds=1)
    await add(engine, "draft", ("scheduled", -7200 * ahead))  # waits for approval: not next
    await add(engine, "approved", ("queued", -600 * ahead), ("scheduled", 90 * ahead), ("scheduled", 300 * ahead))
    seconds = await next_due()
    async with engine.connect() as conn:
        outlook = await repo.due_outlook(conn)
    assert seconds is not None
    assert outlook.seconds_to_next is not None
    assert 80 < seconds <= 90
    assert abs(seconds - outlook.seconds_to_next) < 5
