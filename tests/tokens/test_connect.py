"""The connect flow end to end against each sandbox, the team API, and the state's guarantees."""

from __future__ import annotations

import hashlib
import uuid
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import text

from herald.contracts.platform import Platform
from herald.sandboxes.meta.config import DEFAULT_USER
from tests.support.servers import reserve_port
from tests.tokens.conftest import ALLOWED_REDIRECT_URI, EventLog, Harness, events_settled, start_service


def _name(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


async def test_x_connect_uses_pkce_and_stores_one_account(harness: Harness, event_log: EventLog) -> None:
    team_id, team = await harness.team()
    started = await harness.client.post(f"{harness.url}/v1/accounts/connect/x", headers=team, json={})
    assert started.status_code == 200, started.text
    query = parse_qs(urlsplit(started.json()["authorization_url"]).query)
    assert query["code_challenge_method"] == ["S256"]
    assert query["state"] == [started.json()["state"]]
    assert query["redirect_uri"] == [f"{harness.url}/v1/oauth/x/callback"]

    accounts = await harness.connect(Platform.X, team, _name("xuser"))

    assert len(accounts) == 1
    account = accounts[0]
    assert account["platform"] == "x"
    assert account["team_id"] == str(team_id)
    assert account["status"] == "active"
    assert account["has_refresh_token"] is True
    assert "offline.access" in account["scopes"]
    assert "access_token" not in account
    assert "refresh_token" not in account
    connected = await event_log.of_type(account["id"], "account.connected")
    assert len(connected) == 1
    assert connected[0]["platform_account_id"] == account["platform_account_id"]
    assert connected[0]["reconnected"] is False
    assert connected[0]["actor"].startswith("api_key:")


async def test_linkedin_connect_stores_the_member(harness: Harness, event_log: EventLog) -> None:
    _, team = await harness.team()
    member = _name("member")
    accounts = await harness.connect(Platform.LINKEDIN, team, member)

    assert [a["platform_account_id"] for a in accounts] == [f"urn:li:person:{member}"]
    assert accounts[0]["has_refresh_token"] is True
    assert accounts[0]["refresh_expires_at"] is not None
    token = await harness.access_token(accounts[0]["id"], Platform.LINKEDIN)
    assert token.status_code == 200
    assert token.json()["platform_account_id"] == f"urn:li:person:{member}"
    assert len(await event_log.of_type(accounts[0]["id"], "account.connected")) == 1


async def test_meta_connect_stores_one_account_per_page_with_the_page_token(
    harness: Harness, event_log: EventLog
) -> None:
    _, team = await harness.team()
    accounts = await harness.connect(Platform.META, team, _name("fbuser"))

    assert len(accounts) >= 1
    for account in accounts:
        assert account["platform"] == "meta"
        assert account["expires_at"] is None  # Page tokens from a long-lived user token do not expire
        assert account["has_refresh_token"] is False
        token = await harness.access_token(account["id"], Platform.META)
        assert token.status_code == 200
        assert token.json()["expires_at"] is None
        assert len(await event_log.of_type(account["id"], "account.connected")) == 1
    # The token handed out really is the Page's: the sandbox accepts it for posting as the Page.
    page = accounts[0]
    page_token = (await harness.access_token(page["id"], Platform.META)).json()["access_token"]
    posted = await harness.client.post(
        f"{harness.sandboxes.urls[Platform.META]}/v25.0/{page['platform_account_id']}/feed",
        data={"message": f"hello {uuid.uuid4()}", "access_token": page_token},
    )
    assert posted.status_code == 200, posted.text


async def test_meta_connect_stores_the_instagram_account_linked_to_a_page(
    harness: Harness, event_log: EventLog
) -> None:
    _, team = await harness.team()
    accounts = await harness.connect(Platform.META, team, DEFAULT_USER.id)  # the user whose first Page has one
    page, instagram = accounts[0], accounts[1]
    linked = DEFAULT_USER.pages[0].instagram
    assert linked is not None
    assert [(a["platform_account_id"], a["surface"]) for a in accounts] == [
        (DEFAULT_USER.pages[0].id, "facebook_page"),
        (linked.id, "instagram"),
        (DEFAULT_USER.pages[1].id, "facebook_page"),
    ]
    assert instagram["account_name"] == linked.username
    assert (await harness.row(instagram["id"]))["surface"] == "instagram"
    issued = (await harness.access_token(instagram["id"], Platform.META)).json()
    assert issued["surface"] == "instagram"
    # Instagram is published with the linked Page's token.
    assert issued["access_token"] == (await harness.access_token(page["id"], Platform.META)).json()["access_token"]
    [connected] = await event_log.of_type(instagram["id"], "account.connected")
    assert connected["surface"] == "instagram"
    [page_connected] = await event_log.of_type(page["id"], "account.connected")
    assert page_connected["surface"] == "facebook_page"


async def test_reconnecting_updates_the_same_account(harness: Harness, event_log: EventLog) -> None:
    _, team = await harness.team()
    name = _name("again")
    first = await harness.connect(Platform.X, team, name)
    second = await harness.connect(Platform.X, team, name)

    assert second[0]["id"] == first[0]["id"]
    listed = (await harness.client.get(f"{harness.url}/v1/accounts", headers=team)).json()["accounts"]
    assert [a["id"] for a in listed] == [first[0]["id"]]
    connected = await event_log.of_type(first[0]["id"], "account.connected", until=2)
    assert [e["reconnected"] for e in connected] == [False, True]


async def test_state_is_single_use(harness: Harness) -> None:
    _, team = await harness.team()
    started = await harness.client.post(f"{harness.url}/v1/accounts/connect/x", headers=team, json={})
    consent = await harness.client.get(f"{started.json()['authorization_url']}&account={_name('once')}")
    callback = consent.headers["location"]

    assert (await harness.client.get(callback)).status_code == 200
    replay = await harness.client.get(callback)
    assert replay.status_code == 400
    assert replay.json()["detail"]["error"] == "invalid_state"


@pytest.mark.parametrize(
    "state",
    ["forged", "abc.k1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", ""],
)
async def test_forged_states_are_refused(harness: Harness, state: str) -> None:
    response = await harness.client.get(f"{harness.url}/v1/oauth/x/callback", params={"code": "c", "state": state})
    assert response.status_code in (400, 422)


async def test_a_state_for_another_platform_is_refused(harness: Harness) -> None:
    _, team = await harness.team()
    started = await harness.client.post(f"{harness.url}/v1/accounts/connect/x", headers=team, json={})
    response = await harness.client.get(
        f"{harness.url}/v1/oauth/linkedin/callback", params={"code": "c", "state": started.json()["state"]}
    )
    assert response.status_code == 400
    assert response.json()["detail"]["error"] == "invalid_state"


async def test_an_expired_state_is_refused(harness: Harness) -> None:
    _, team = await harness.team()
    started = await harness.client.post(f"{harness.url}/v1/accounts/connect/x", headers=team, json={})
    consent = await harness.client.get(f"{started.json()['authorization_url']}&account={_name('late')}")
    async with harness.engine.begin() as conn:
        await conn.execute(
            text("UPDATE oauth_states SET expires_at = now() - interval '1 second' WHERE id = :id"),
            {"id": hashlib.sha256(started.json()["state"].split(".")[0].encode()).hexdigest()},
        )
    response = await harness.client.get(consent.headers["location"])
    assert response.status_code == 400
    assert "expired" in response.json()["detail"]["message"]


async def test_a_user_who_denies_consent_gets_a_clear_answer(harness: Harness) -> None:
    _, team = await harness.team()
    started = await harness.client.post(f"{harness.url}/v1/accounts/connect/x", headers=team, json={})
    consent = await harness.client.get(f"{started.json()['authorization_url']}&deny=1")
    response = await harness.client.get(consent.headers["location"])
    assert response.status_code == 400
    assert response.json()["detail"]["error"] == "authorization_denied"


async def test_a_code_exchange_refusing_heralds_own_client_is_transient_not_the_users(harness: Harness) -> None:
    """Issue 14 item 5: X refusing our client credentials (401 unauthorized_client) is an operator's error, so the
    user is told to try again later rather than that their consent failed."""
    _, team = await harness.team()
    started = await harness.client.post(f"{harness.url}/v1/accounts/connect/x", headers=team, json={})
    consent = await harness.client.get(f"{started.json()['authorization_url']}&account=acct-operator-error")
    await harness.sandboxes.arm(Platform.X, operation="token", kind="error", error="unauthorized_client", count=1)
    try:
        response = await harness.client.get(consent.headers["location"])
    finally:
        await harness.sandboxes.clear(Platform.X)
    assert response.status_code == 502
    assert response.json()["detail"]["error"] == "connect_failed"
    assert response.json()["detail"]["transient"] is True


async def test_connect_needs_an_api_key_and_validates_input(harness: Harness) -> None:
    _, team = await harness.team()
    assert (await harness.client.post(f"{harness.url}/v1/accounts/connect/x", json={})).status_code == 401
    unknown = await harness.client.post(f"{harness.url}/v1/accounts/connect/myspace", headers=team, json={})
    assert unknown.status_code == 422
    bad = await harness.client.post(
        f"{harness.url}/v1/accounts/connect/x", headers=team, json={"redirect_uri": "javascript:alert(1)"}
    )
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["body", "redirect_uri"]


async def test_other_teams_accounts_are_not_found(harness: Harness) -> None:
    _, team_a = await harness.team()
    _, team_b = await harness.team()
    account = (await harness.connect(Platform.X, team_a, _name("mine")))[0]
    url = f"{harness.url}/v1/accounts/{account['id']}"

    assert (await harness.client.get(url, headers=team_a)).status_code == 200
    assert (await harness.client.get(url, headers=team_b)).status_code == 404
    assert (await harness.client.delete(url, headers=team_b)).status_code == 404
    assert (await harness.client.get(f"{harness.url}/v1/accounts", headers=team_b)).json() == {"accounts": []}
    assert (await harness.client.get(url, headers=team_a)).json()["status"] == "active"
    assert (await harness.client.get(f"{harness.url}/v1/accounts/not-a-uuid", headers=team_a)).status_code == 422


async def test_disconnect_erases_tokens_and_is_announced_once(harness: Harness, event_log: EventLog) -> None:
    _, team = await harness.team()
    account = (await harness.connect(Platform.X, team, _name("bye")))[0]
    url = f"{harness.url}/v1/accounts/{account['id']}"

    assert (await harness.client.delete(url, headers=team)).status_code == 204
    assert (await harness.client.delete(url, headers=team)).status_code == 204

    shown = (await harness.client.get(url, headers=team)).json()
    assert shown["status"] == "disconnected"
    assert shown["is_active"] is False
    row = await harness.row(account["id"])
    assert row["access_token"] is None
    assert row["refresh_token"] is None
    refused = await harness.access_token(account["id"], Platform.X)
    assert refused.status_code == 409
    assert refused.json()["detail"]["error"] == "disconnected"
    await event_log.of_type(account["id"], "account.disconnected")
    await events_settled(harness, event_log)  # a second announcement would have arrived ahead of the marker
    assert len(await event_log.of_type(account["id"], "account.disconnected", until=0)) == 1


async def test_only_allow_listed_redirect_uris_are_accepted(harness: Harness) -> None:
    _, team = await harness.team()
    url = f"{harness.url}/v1/accounts/connect/x"
    allowed = await harness.client.post(url, headers=team, json={"redirect_uri": ALLOWED_REDIRECT_URI})
    assert allowed.status_code == 200, allowed.text
    assert parse_qs(urlsplit(allowed.json()["authorization_url"]).query)["redirect_uri"] == [ALLOWED_REDIRECT_URI]

    elsewhere = await harness.client.post(url, headers=team, json={"redirect_uri": "https://attacker.example/cb"})
    assert elsewhere.status_code == 422
    assert "allowed redirect" in elsewhere.json()["detail"][0]["msg"]
    broken = await harness.client.post(url, headers=team, json={"redirect_uri": "http://[::1/cb"})
    assert broken.status_code == 422


async def test_connect_bodies_refuse_unknown_fields_and_unstorable_text(harness: Harness) -> None:
    _, team = await harness.team()
    url = f"{harness.url}/v1/accounts/connect/x"
    unknown = await harness.client.post(url, headers=team, json={"redirect": ALLOWED_REDIRECT_URI})
    assert unknown.status_code == 422
    assert unknown.json()["detail"][0]["type"] == "extra_forbidden"
    nul = await harness.client.post(url, headers=team, json={"redirect_uri": "https://a.example/\u0000"})
    assert nul.status_code == 422
    assert "NUL" in nul.json()["detail"][0]["msg"]
    surrogate = await harness.client.post(
        url, headers={**team, "content-type": "application/json"}, content=b'{"redirect_uri": "\\ud800"}'
    )
    assert surrogate.status_code == 422
    callback = await harness.client.get(f"{harness.url}/v1/oauth/x/callback", params={"state": "a\x00b"})
    assert callback.status_code == 422
    assert callback.json()["detail"][0]["loc"] == ["query", "state"]


async def test_outside_development_connecting_needs_a_redirect_allow_list(harness: Harness) -> None:
    port = reserve_port()
    settings = harness.settings.model_copy(
        update={"http_port": port, "public_base_url": f"http://127.0.0.1:{port}", "allowed_redirect_uris": ()}
    )
    _, team = await harness.team()
    with start_service(settings) as url:
        refused = await harness.client.post(f"{url}/v1/accounts/connect/x", headers=team, json={})
    assert refused.status_code == 503
    assert refused.json()["detail"]["error"] == "connect_not_configured"
    assert "HERALD_ALLOWED_REDIRECT_URIS" in refused.json()["detail"]["message"]
