"""Kept scheduling targets (``herald.scheduler.target_cache``): a request on contents and accounts read recently
reads nothing before its write, and the write proves them current. On the real PostgreSQL and broker: a change made
after the rows were kept is always seen, and kept rows that would refuse a request are judged again on fresh ones."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

import httpx
import pytest
from sqlalchemy import text

from herald.contracts.platform import Platform
from herald.scheduler import repository as repo
from herald.scheduler.models import Account, AccountStatus, Content, ContentStatus
from herald.scheduler.target_cache import KEPT_TEXT_MAX, TargetCache
from tests.scheduler.support import Broker, Instance, Team, iso, now
from tests.scheduler.test_bulk import accounts, new_content

# -- the cache alone -------------------------------------------------------------------------------------------


def _content(team_id: uuid.UUID) -> Content:
    return Content(
        content_id=uuid.uuid4(),
        team_id=team_id,
        title="Kept",
        text="Kept text.",
        link=None,
        status=ContentStatus.DRAFT,
        approved_at=None,
        archived_at=None,
        created_at=now(),
        updated_at=now(),
    )


def _account(team_id: uuid.UUID) -> Account:
    return Account(account_id=uuid.uuid4(), team_id=team_id, platform=Platform.X, status=AccountStatus.CONNECTED)


def _targets(contents: list[Content], accounts_: list[Account], version: int = 7) -> repo.Targets:
    return repo.Targets(
        contents={c.content_id: c for c in contents},
        accounts={a.account_id: a for a in accounts_},
        content_versions={c.content_id: version for c in contents},
        account_versions={a.account_id: version for a in accounts_},
    )


def test_a_request_is_served_only_if_every_content_item_and_account_is_kept() -> None:
    team = uuid.uuid4()
    content, other_content = _content(team), _content(team)
    account, other_account = _account(team), _account(team)
    cache = TargetCache(10)
    cache.put(team, _targets([content], [account]))

    kept = cache.get(team, [content.content_id, content.content_id], [account.account_id])
    assert kept == _targets([content], [account])
    assert cache.get(team, [content.content_id, other_content.content_id], [account.account_id]) is None
    assert cache.get(team, [content.content_id], [account.account_id, other_account.account_id]) is None


def test_contents_are_kept_per_team() -> None:
    team = uuid.uuid4()
    content, account = _content(team), _account(team)
    cache = TargetCache(10)
    cache.put(team, _targets([content], [account]))
    assert cache.get(uuid.uuid4(), [content.content_id], [account.account_id]) is None


def test_a_fresh_read_replaces_the_kept_version() -> None:
    team = uuid.uuid4()
    content, account = _content(team), _account(team)
    cache = TargetCache(10)
    cache.put(team, _targets([content], [account], version=1))
    cache.put(team, _targets([content], [account], version=2))
    kept = cache.get(team, [content.content_id], [account.account_id])
    assert kept is not None
    assert kept.content_versions == {content.content_id: 2}
    assert kept.account_versions == {account.account_id: 2}


def test_the_least_recently_used_rows_go_first() -> None:
    team = uuid.uuid4()
    first, second, third = (_content(team) for _ in range(3))
    account = _account(team)
    cache = TargetCache(2)
    cache.put(team, _targets([first, second], [account]))
    assert cache.get(team, [first.content_id], [account.account_id]) is not None  # first is now the newest
    cache.put(team, _targets([third], [account]))
    assert cache.get(team, [second.content_id], [account.account_id]) is None
    assert cache.get(team, [first.content_id, third.content_id], [account.account_id]) is not None


def test_a_long_text_is_not_kept() -> None:
    team = uuid.uuid4()
    short, long = _content(team), dataclasses.replace(_content(team), text="x" * (KEPT_TEXT_MAX + 1))
    account = _account(team)
    cache = TargetCache(10)
    cache.put(team, _targets([short, long], [account]))
    assert cache.get(team, [short.content_id], [account.account_id]) is not None
    assert cache.get(team, [long.content_id], [account.account_id]) is None


def test_size_zero_keeps_nothing() -> None:
    team = uuid.uuid4()
    content, account = _content(team), _account(team)
    cache = TargetCache(0)
    cache.put(team, _targets([content], [account]))
    assert cache.get(team, [content.content_id], [account.account_id]) is None


# -- in the scheduler, on the real database --------------------------------------------------------------------


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Each read of scheduling targets from the database (its ``lock`` flag), in order."""
    original = repo.scheduling_targets
    calls: list[bool] = []

    async def counted(*args: object, lock: bool = False) -> repo.Targets:
        calls.append(lock)
        return await original(*args, lock=lock)  # type: ignore[arg-type]

    monkeypatch.setattr(repo, "scheduling_targets", counted)
    return calls


async def _schedule(client: httpx.AsyncClient, team: Team, content_id: str, account: uuid.UUID) -> httpx.Response:
    body = {"content_id": content_id, "platform": "x", "account_id": str(account)}
    body["publish_at"] = iso(now() + dt.timedelta(days=2, seconds=uuid.uuid4().int % 3600))
    return await client.post("/v1/distributions", json=body, headers=team.headers)


async def _scheduled(scheduler: Instance, content_id: str) -> int:
    async with scheduler.engine.connect() as conn:
        query = text("SELECT count(*) FROM distributions WHERE content_id = :c AND status = 'scheduled'")
        return int((await conn.execute(query, {"c": uuid.UUID(content_id)})).scalar_one())


async def test_a_second_create_on_kept_targets_reads_nothing_before_its_write(
    client: httpx.AsyncClient, scheduler: Instance, broker: Broker, team: Team, reads: list[bool]
) -> None:
    content_id = await new_content(client, team)
    (account,) = await accounts(scheduler, broker, team, Platform.X)
    for _ in range(3):
        created = await _schedule(client, team, content_id, account)
        assert created.status_code == 201, created.text
    assert reads == [False]
    assert await _scheduled(scheduler, content_id) == 3


async def test_content_archived_after_it_was_kept_is_refused(
    client: httpx.AsyncClient, scheduler: Instance, broker: Broker, team: Team, reads: list[bool]
) -> None:
    content_id = await new_content(client, team)
    (account,) = await accounts(scheduler, broker, team, Platform.X)
    assert (await _schedule(client, team, content_id, account)).status_code == 201
    archived = await client.post(f"/v1/contents/{content_id}/archive", headers=team.headers)
    assert archived.status_code == 200, archived.text

    refused = await _schedule(client, team, content_id, account)
    assert refused.status_code == 422, refused.text
    assert "archived" in refused.text
    assert reads == [False, True]  # the kept row passed the checks; the write refused it; the locked read did not
    assert await _scheduled(scheduler, content_id) == 0  # archiving cancelled the first one too


async def test_an_account_disconnected_after_it_was_kept_is_refused(
    client: httpx.AsyncClient, scheduler: Instance, broker: Broker, team: Team, reads: list[bool]
) -> None:
    content_id = await new_content(client, team)
    (account,) = await accounts(scheduler, broker, team, Platform.X)
    assert (await _schedule(client, team, content_id, account)).status_code == 201
    await broker.disconnect_account(scheduler.engine, team, account)

    refused = await _schedule(client, team, content_id, account)
    assert refused.status_code == 422, refused.text
    assert "disconnected" in refused.json()["detail"][0]["msg"]
    assert reads == [False, True]
    assert await _scheduled(scheduler, content_id) == 0


async def test_kept_rows_that_would_refuse_are_judged_again_on_fresh_ones(
    client: httpx.AsyncClient, scheduler: Instance, broker: Broker, team: Team, reads: list[bool]
) -> None:
    content_id = await new_content(client, team)
    (account,) = await accounts(scheduler, broker, team, Platform.X)
    await broker.disconnect_account(scheduler.engine, team, account)
    assert (await _schedule(client, team, content_id, account)).status_code == 422  # keeps the disconnected row
    await broker.connect_account(
        scheduler.engine, team, Platform.X, account_id=account, occurred_at=now() + dt.timedelta(seconds=1)
    )

    created = await _schedule(client, team, content_id, account)
    assert created.status_code == 201, created.text
    assert reads == [False, True]
    assert await _scheduled(scheduler, content_id) == 1
