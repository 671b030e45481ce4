"""The background sweep, on a database of its own, with a LinkedIn app that gets no refresh tokens (no MDP)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from herald.contracts.platform import Platform
from herald.sandboxes.linkedin.config import LinkedInSandboxConfig
from tests.support.eventually import eventually
from tests.support.servers import reserve_port
from tests.tokens.conftest import (
    EventLog,
    Harness,
    fresh_database,
    schema_engine,
    serve_sandboxes,
    service_credentials,
    settings_for,
    start_service,
)

SIXTY_ONE_DAYS = 61 * 24 * 3600


@pytest.fixture(scope="module")
async def swept(database_base_url: str, amqp_url: str, event_log: EventLog) -> AsyncIterator[Harness]:
    with serve_sandboxes(LinkedInSandboxConfig(issue_refresh_tokens=False)) as sandboxes:
        async with fresh_database(database_base_url) as database_url:
            tokens, hashes = service_credentials()
            settings = settings_for(
                database_url,
                amqp_url,
                sandboxes,
                reserve_port(),
                hashes,
                refresh_loop_enabled=True,
                refresh_loop_interval_seconds=0.2,
                refresh_ahead_seconds=900,
                reauth_warning_seconds=SIXTY_ONE_DAYS,  # LinkedIn grants last 60 days: warn at once
            )
            engine = schema_engine(database_url)
            async with httpx.AsyncClient(timeout=30) as client:
                with start_service(settings) as url:
                    yield Harness(url, settings, sandboxes, engine, tokens, client)
            await engine.dispose()


async def _wait_for(harness: Harness, account_id: str, column: str, timeout: float = 5.0) -> dict[str, object]:
    async def row_with_column() -> dict[str, object] | None:
        row = await harness.row(account_id)
        return row if row[column] is not None else None

    row = await eventually(row_with_column, within=timeout, interval=0.1, what=f"{column} set")
    assert row is not None
    return row


async def _a_sweep_has_run(swept: Harness, event_log: EventLog) -> None:
    """A marker: a LinkedIn account without a refresh token, connected now, is warned by the next sweep; once its
    warning has arrived, a whole sweep has run since (and its events were written after everything before)."""
    _, team = await swept.team()
    [marker] = await swept.connect(Platform.LINKEDIN, team, f"marker{uuid.uuid4().hex[:8]}")
    await event_log.of_type(marker["id"], "reauth_required")


async def test_tokens_expiring_soon_are_refreshed_in_the_background(swept: Harness, event_log: EventLog) -> None:
    _, team = await swept.team()
    name = f"bg{uuid.uuid4().hex[:8]}"
    account = (await swept.connect(Platform.X, team, name))[0]
    await swept.expire(account["id"], seconds_from_now=600)  # within the 15 minutes ahead, outside the skew

    row = await _wait_for(swept, account["id"], "last_refreshed_at")

    assert row["last_refreshed_at"] is not None
    assert isinstance(row["expires_at"], dt.datetime)
    assert row["expires_at"] > dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    [event] = await event_log.of_type(account["id"], "token.refreshed")
    assert event["actor"] == "system"
    assert await swept.sandboxes.token_requests(Platform.X, name) == 2


async def test_linkedin_without_refresh_token_is_warned_once_then_flagged(swept: Harness, event_log: EventLog) -> None:
    _, team = await swept.team()
    account = (await swept.connect(Platform.LINKEDIN, team, f"nomdp{uuid.uuid4().hex[:8]}"))[0]
    assert account["has_refresh_token"] is False

    row = await _wait_for(swept, account["id"], "reauth_warned_at")
    assert row["reauth_warned_at"] is not None
    await event_log.of_type(account["id"], "reauth_required")
    await _a_sweep_has_run(swept, event_log)  # a second warning would have arrived ahead of the marker's
    [warning] = await event_log.of_type(account["id"], "reauth_required", until=0)
    assert "cannot be extended" in warning["reason"]
    assert dt.datetime.fromisoformat(warning["expires_at"]) > dt.datetime.now(dt.UTC) + dt.timedelta(days=59)
    # Still usable until it ends; a refresh cannot be attempted, so nothing is called.
    await swept.expire(account["id"], seconds_from_now=120)
    still = await swept.access_token(account["id"], Platform.LINKEDIN)
    assert still.status_code == 200

    await swept.expire(account["id"], seconds_from_now=-1)

    async def flagged() -> bool:
        return bool((await swept.row(account["id"]))["status"] == "needs_reauth")

    await eventually(flagged, within=5, interval=0.1)
    events = await event_log.of_type(account["id"], "reauth_required", until=2)
    assert len(events) == 2
    assert dt.datetime.fromisoformat(events[1]["expires_at"]) < dt.datetime.now(dt.UTC)
    refused = await swept.access_token(account["id"], Platform.LINKEDIN)
    assert refused.status_code == 409
    assert refused.json()["detail"]["error"] == "reauth_required"
    await _a_sweep_has_run(swept, event_log)  # a third announcement would have arrived ahead of the marker's
    assert len(await event_log.of_type(account["id"], "reauth_required", until=0)) == 2
    metrics = (await swept.client.get(f"{swept.url}/metrics")).text
    assert 'herald_accounts_needing_reauth{platform="linkedin"} 1.0' in metrics


async def test_meta_page_tokens_are_left_alone(swept: Harness, event_log: EventLog) -> None:
    _, team = await swept.team()
    account = (await swept.connect(Platform.META, team, f"page{uuid.uuid4().hex[:8]}"))[0]
    await _a_sweep_has_run(swept, event_log)
    row = await swept.row(account["id"])
    assert row["status"] == "active"
    assert row["last_refreshed_at"] is None
    assert row["reauth_warned_at"] is None
    assert [e["_type"] for e in await event_log.for_account(account["id"])] == ["com.herald.account.connected.v1"]
