"""Refresh rules the sandboxes cannot provoke, with a fake OAuth client (this service's own port) on the real DB."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import text

from herald.contracts.platform import Platform
from herald.platforms.base import AuthorizationRequest, Identity, OAuthClient, RefreshError, TokenSet
from herald.tokens.main import build
from tests.support.servers import reserve_port, serve
from tests.tokens.conftest import KEY_1, EventLog, Harness, ring

VERIFIER = "v" * 43


class FakeOAuth(OAuthClient):
    """Answers what a test queues; records what it was asked."""

    platform = Platform.X

    def __init__(self) -> None:
        self.identity = "unset"
        self.answers: list[TokenSet | Exception] = []
        self.refreshed_with: list[str] = []

    def authorization_url(self, state: str, redirect_uri: str) -> AuthorizationRequest:
        return AuthorizationRequest(url=f"https://fake.invalid/authorize?state={state}", code_verifier=VERIFIER)

    async def exchange_code(self, code: str, redirect_uri: str, code_verifier: str | None) -> TokenSet:
        assert code_verifier == VERIFIER
        expires = dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)
        refresh = None if code.startswith("nort") else f"fake-rt-{code}"
        return TokenSet(access_token=f"fake-at-{code}", refresh_token=refresh, expires_at=expires, scopes=("a",))

    async def refresh(self, refresh_token: str) -> TokenSet:
        self.refreshed_with.append(refresh_token)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def identities(self, access_token: str) -> list[Identity]:
        return [Identity(platform_account_id=self.identity, name="Fake Account")]


@pytest.fixture(scope="module")
async def faked(harness: Harness) -> AsyncIterator[tuple[Harness, FakeOAuth]]:
    fake = FakeOAuth()
    port = reserve_port()
    settings = harness.settings.model_copy(update={"http_port": port, "public_base_url": f"http://127.0.0.1:{port}"})
    _, app = build(settings, oauth={Platform.X: fake})
    with serve(app, port=port) as url:
        yield Harness(url, settings, harness.sandboxes, harness.engine, harness.credentials, harness.client), fake


async def _connect(harness: Harness, fake: FakeOAuth, team: dict[str, str], code: str) -> dict[str, Any]:
    started = (await harness.client.post(f"{harness.url}/v1/accounts/connect/x", headers=team, json={})).json()
    callback = await harness.client.get(
        f"{harness.url}/v1/oauth/x/callback", params={"code": code, "state": started["state"]}
    )
    assert callback.status_code == 200, callback.text
    account: dict[str, Any] = callback.json()["accounts"][0]
    return account


def _stored_refresh(row: dict[str, Any]) -> str:
    return ring(k1=KEY_1).decrypt(row["refresh_token"], owner=row["id"], field="refresh_token")


@pytest.mark.parametrize("empty", [None, ""])
async def test_a_refresh_answer_without_refresh_token_keeps_the_stored_one(
    faked: tuple[Harness, FakeOAuth], event_log: EventLog, empty: str | None
) -> None:
    harness, fake = faked
    fake.identity = uuid.uuid4().hex
    _, team = await harness.team()
    account = await _connect(harness, fake, team, f"c{uuid.uuid4().hex[:6]}")
    stored = _stored_refresh(await harness.row(account["id"]))
    await harness.expire(account["id"])
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)
    fake.answers = [TokenSet(access_token="fake-at-new", refresh_token=empty, expires_at=later)]

    response = await harness.access_token(account["id"], Platform.X)

    assert response.json()["access_token"] == "fake-at-new"
    assert fake.refreshed_with[-1] == stored
    assert _stored_refresh(await harness.row(account["id"])) == stored
    [event] = await event_log.of_type(account["id"], "token.refreshed")
    assert event["rotated"] is False


async def test_a_reconnect_without_refresh_token_keeps_the_stored_one(faked: tuple[Harness, FakeOAuth]) -> None:
    harness, fake = faked
    fake.identity = uuid.uuid4().hex
    _, team = await harness.team()
    account = await _connect(harness, fake, team, f"c{uuid.uuid4().hex[:6]}")
    stored = _stored_refresh(await harness.row(account["id"]))

    again = await _connect(harness, fake, team, f"nort{uuid.uuid4().hex[:6]}")

    assert again["id"] == account["id"]
    assert again["has_refresh_token"] is True
    assert _stored_refresh(await harness.row(account["id"])) == stored


async def test_an_unexpected_adapter_failure_is_transient(faked: tuple[Harness, FakeOAuth]) -> None:
    harness, fake = faked
    fake.identity = uuid.uuid4().hex
    _, team = await harness.team()
    account = await _connect(harness, fake, team, f"c{uuid.uuid4().hex[:6]}")
    await harness.expire(account["id"])
    fake.answers = [KeyError("access_token")]

    response = await harness.access_token(account["id"], Platform.X)

    assert response.status_code == 503
    assert (await harness.row(account["id"]))["status"] == "active"


async def test_the_back_off_grows_with_consecutive_failures(faked: tuple[Harness, FakeOAuth]) -> None:
    harness, fake = faked
    fake.identity = uuid.uuid4().hex
    _, team = await harness.team()
    account = await _connect(harness, fake, team, f"c{uuid.uuid4().hex[:6]}")
    await harness.expire(account["id"])
    fake.answers = [RefreshError("503", permanent=False, http_status=503) for _ in range(2)]

    first = await harness.access_token(account["id"], Platform.X)
    row = await harness.row(account["id"])
    async with harness.engine.begin() as conn:  # skip the wait: the back-off itself is what is measured
        await conn.execute(text("UPDATE accounts SET refresh_retry_at = NULL WHERE id = :id"), {"id": row["id"]})
    second = await harness.access_token(account["id"], Platform.X)
    after = await harness.row(account["id"])

    assert first.status_code == second.status_code == 503
    assert after["refresh_failures"] == 2
    assert int(second.headers["retry-after"]) >= int(first.headers["retry-after"])
    waited = after["refresh_retry_at"] - after["modified_at"]
    assert waited == dt.timedelta(seconds=min(0.3 * 2, 1.0))
