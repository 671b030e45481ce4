"""A distribution's outcome rewrites its row in place (a HOT update), touching none of the table's indexes.

The due index holds ``due_at`` (set while the status is ``scheduled``), not a predicate on ``status``: only leaving
``scheduled`` (the claim) changes an indexed column, so the outcome after it is a HOT update when its page has room.
"""

from __future__ import annotations

import datetime as dt
import uuid

import asyncpg

from herald.kit.migrations import upgrade
from herald.scheduler import repository as repo
from herald.scheduler.main import MIGRATIONS
from tests.support.table_stats import updates_reported

SCHEMA = "scheduler_hot_updates"  # its own table: the statistics below count this test's updates only
POSTS = 300
BATCH = 50


async def test_outcomes_after_the_claim_are_hot_updates(database_url: str) -> None:
    await upgrade(database_url, MIGRATIONS, SCHEMA)
    dsn = database_url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn, server_settings={"search_path": SCHEMA})
    try:
        await conn.execute("TRUNCATE distributions, contents CASCADE")
        team, content, now = uuid.uuid4(), uuid.uuid4(), dt.datetime.now(dt.UTC)
        await conn.execute(
            "INSERT INTO contents (content_id, team_id, title, text, status, created_at, updated_at)"
            " VALUES ($1, $2, 't', 'text', 'approved', now(), now())",
            content,
            team,
        )
        await conn.executemany(
            "INSERT INTO distributions (distribution_id, team_id, content_id, account_id, platform, status,"
            " scheduled_at, max_attempts, base_delay_seconds, misfire_policy, misfire_window_seconds, over_length,"
            " created_at, updated_at) VALUES ($1, $2, $3, $4, 'x', 'scheduled', $5, 5, 30, 'publish_late', 86400,"
            " 'reject', now(), now())",
            [(uuid.uuid4(), team, content, uuid.uuid4(), now - dt.timedelta(seconds=i)) for i in range(POSTS)],
        )
        claimed: list[uuid.UUID] = []
        while True:  # as the due loop: claim a batch and mark it queued, in one transaction
            async with conn.transaction():
                batch = await repo.claim_due_set(conn, BATCH)
                await repo.mark_requested_set(
                    conn, [(c.distribution.distribution_id, str(uuid.uuid4())) for c in batch]
                )
            if not batch:
                break
            claimed += [c.distribution.distribution_id for c in batch]
        assert len(claimed) == POSTS
        for start in range(0, POSTS, BATCH):  # as the tracker: each batch's outcomes in one statement
            targets = claimed[start : start + BATCH]
            async with conn.transaction():
                await repo.distributions_for_update_set(conn, targets)
                await repo.record_outcomes_set(conn, _attempts(targets, now), {t: _published(t, now) for t in targets})
        published = await conn.fetchval("SELECT count(*) FROM distributions WHERE status = 'published'")
        assert published == POSTS
        waiting = await conn.fetchval("SELECT count(*) FROM distributions WHERE due_at IS NOT NULL")
        assert waiting == 0  # PostgreSQL cleared the due key when they left ``scheduled``
    finally:
        await conn.close()  # a closing backend reports its statistics

    updates, hot = await updates_reported(database_url, SCHEMA, "distributions", at_least=2 * POSTS)
    assert updates == 2 * POSTS  # each claimed, then its outcome
    # With ``status`` in the due index's predicate none was HOT. The claims cannot be (they leave the index);
    # at fillfactor 70, 209 of these 300 outcomes found room on their page.
    assert hot >= 0.6 * POSTS, (updates, hot)


def _attempts(targets: list[uuid.UUID], at: dt.datetime) -> list[dict[str, object]]:
    row = dict.fromkeys((name for name, _ in repo.ATTEMPT_COLUMNS), None)
    return [
        row
        | {
            "event_id": str(uuid.uuid4()),
            "distribution_id": t,
            "attempt": 1,
            "outcome": "succeeded",
            "occurred_at": at,
            "applied": True,
            "external_post_id": f"post-{t}",
        }
        for t in targets
    ]


def _published(target: uuid.UUID, at: dt.datetime) -> dict[str, object]:
    return {
        "status": "published",
        "last_attempt": 1,
        "last_outcome_rank": 1,
        "last_outcome_at": at,
        "external_post_id": f"post-{target}",
        "published_at": at,
    }
