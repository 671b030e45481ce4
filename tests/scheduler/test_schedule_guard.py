"""Scheduling checks its contents, then writes only if none changed meanwhile (one statement, no transaction around
the two): the guard, on the real PostgreSQL, and the locked retry it falls back to."""

from __future__ import annotations

import datetime as dt
import uuid

import httpx
import pytest
from sqlalchemy import text

from herald.contracts.platform import Platform
from herald.kit import db as db_kit
from herald.scheduler import repository as repo
from tests.scheduler.support import Broker, Instance, Team, iso, now
from tests.scheduler.test_bulk import accounts, new_content


def _row(team: Team, content_id: uuid.UUID, account_id: uuid.UUID) -> dict[str, object]:
    return {
        "distribution_id": uuid.uuid4(),
        "team_id": team.team_id,
        "content_id": content_id,
        "account_id": account_id,
        "platform": Platform.X.value,
        "status": "scheduled",
        "scheduled_at": now() + dt.timedelta(days=3),
        "timezone": None,
        "local_time": None,
        "max_attempts": 5,
        "base_delay_seconds": 300,
        "misfire_policy": "publish_late",
        "misfire_window_seconds": 3600,
        "over_length": "reject",
        "surface": "feed",
    }


async def _count(scheduler: Instance, content_id: uuid.UUID) -> int:
    async with scheduler.engine.connect() as conn:
        query = text("SELECT count(*) FROM distributions WHERE content_id = :c")
        return int((await conn.execute(query, {"c": content_id})).scalar_one())


async def test_the_write_is_refused_when_the_content_changed_since_it_was_read(
    client: httpx.AsyncClient, scheduler: Instance, broker: Broker, team: Team
) -> None:
    content_id = uuid.UUID(await new_content(client, team))
    (account,) = await accounts(scheduler, broker, team, Platform.X)
    pool = db_kit.SchemaPool(scheduler.settings, scheduler.settings.db_schema, size=1)  # as the scheduler's own
    await pool.open()
    try:
        async with pool.acquire() as db:
            targets = await repo.scheduling_targets(db, team.team_id, [content_id], [account])
            assert set(targets.contents) == {content_id}
            assert set(targets.accounts) == {account}
            edited = await client.patch(f"/v1/contents/{content_id}", json={"text": "Edited."}, headers=team.headers)
            assert edited.status_code == 200, edited.text
            first = _row(team, content_id, account)
            refused = await repo.insert_distributions_set(db, [first], unchanged=targets)
            assert refused is None
            assert await _count(scheduler, content_id) == 0

            again = await repo.scheduling_targets(db, team.team_id, [content_id], [account])
            assert again.content_versions != targets.content_versions
            row = _row(team, content_id, account)
            written = await repo.insert_distributions_set(db, [row], unchanged=again)
    finally:
        await pool.close()
    assert written is not None
    assert [d.distribution_id for d in written] == [row["distribution_id"]]
    assert await _count(scheduler, content_id) == 1


async def test_a_create_racing_an_edit_is_checked_against_the_edited_content(
    client: httpx.AsyncClient, scheduler: Instance, broker: Broker, team: Team, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Archiving between the check and the write: the locked retry sees the archived content and refuses it."""
    content_id = uuid.UUID(await new_content(client, team))
    (account,) = await accounts(scheduler, broker, team, Platform.X)
    original = repo.scheduling_targets
    calls: list[bool] = []

    async def archive_after_the_first_read(*args: object, lock: bool = False) -> repo.Targets:
        found = await original(*args, lock=lock)  # type: ignore[arg-type]
        calls.append(lock)
        if len(calls) == 1:
            archived = await client.post(f"/v1/contents/{content_id}/archive", headers=team.headers)
            assert archived.status_code == 200, archived.text
        return found

    monkeypatch.setattr(repo, "scheduling_targets", archive_after_the_first_read)
    body = {"content_id": str(content_id), "platform": "x", "account_id": str(account)}
    body["publish_at"] = iso(now() + dt.timedelta(days=2))
    response = await client.post("/v1/distributions", json=body, headers=team.headers)
    monkeypatch.undo()
    assert calls == [False, True]
    assert response.status_code == 422, response.text
    assert "archived" in response.text
    assert await _count(scheduler, content_id) == 0
