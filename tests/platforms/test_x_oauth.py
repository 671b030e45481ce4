"""X OAuth 2.0 against the sandbox: consent, PKCE, code exchange, rotating refresh, identity, expiry."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from herald.platforms.base import Draft, ErrorClass, PlatformError, RefreshError
from herald.platforms.x import XSettings
from herald.platforms.x.oauth import XOAuthClient, pkce_pair
from herald.sandboxes.x.accounts import derived_user_id
from herald.sandboxes.x.config import XAccountProfile, XSandboxConfig
from tests.platforms.test_x_support import CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, XWorld, x_world


@pytest.fixture
async def world() -> AsyncIterator[XWorld]:
    async with x_world() as world:
        yield world


async def consent(world: XWorld, *, state: str = "s-1", account: str | None = None) -> tuple[str, str]:
    """Authorize as ``account``; returns (code, code_verifier)."""
    request = world.kit.oauth.authorization_url(state=state, redirect_uri=REDIRECT_URI)
    assert request.code_verifier is not None
    url = f"{request.url}&account={account}" if account else request.url
    answer = await world.control.get(url, follow_redirects=False)
    assert answer.status_code == 302
    query = parse_qs(urlsplit(answer.headers["location"]).query)
    assert query["state"] == [state]
    return query["code"][0], request.code_verifier


def test_authorization_url_asks_for_pkce_s256_and_the_scopes(world: XWorld) -> None:
    request = world.kit.oauth.authorization_url(state="abc", redirect_uri=REDIRECT_URI)
    url = urlsplit(request.url)
    query = parse_qs(url.query)
    assert f"{url.scheme}://{url.netloc}{url.path}" == world.settings.authorize_url
    assert query["response_type"] == ["code"]
    assert query["client_id"] == [CLIENT_ID]
    assert query["code_challenge_method"] == ["S256"]
    assert query["scope"] == ["tweet.read tweet.write users.read offline.access media.write"]
    assert "%20" in request.url  # X wants spaces, not "+", between scopes
    assert request.code_verifier is not None
    assert 43 <= len(request.code_verifier) <= 128
    assert query["code_challenge"][0] != request.code_verifier


def test_default_authorize_url_is_xs() -> None:
    settings = XSettings()  # config is built elsewhere; every field has a default
    assert settings.authorize_url == "https://x.com/i/oauth2/authorize"
    assert settings.token_url == "https://api.x.com/2/oauth2/token"
    assert settings.api_url("tweets") == "https://api.x.com/2/tweets"


async def test_full_flow_code_exchange_identity_and_publish(world: XWorld) -> None:
    code, verifier = await consent(world, account="alice")
    tokens = await world.kit.oauth.exchange_code(code, REDIRECT_URI, verifier)
    assert tokens.refresh_token
    assert tokens.scopes == ("tweet.read", "tweet.write", "users.read", "offline.access", "media.write")
    assert tokens.expires_at is not None
    assert abs(tokens.expires_at - (dt.datetime.now(dt.UTC) + dt.timedelta(hours=2))) < dt.timedelta(seconds=30)
    [identity] = await world.kit.oauth.identities(tokens.access_token)
    assert identity.platform_account_id == derived_user_id("alice")
    assert identity.name == "alice"
    post = world.kit.rules.prepare(Draft(text="Connected through the whole flow"))
    published = await world.kit.client.publish(await world.account(tokens.access_token), tokens.access_token, post)
    assert published.url == f"https://x.com/i/web/status/{published.post_id}"


async def test_wrong_pkce_verifier_is_rejected(world: XWorld) -> None:
    code, _ = await consent(world)
    other_verifier, _ = pkce_pair()
    with pytest.raises(PlatformError) as caught:
        await world.kit.oauth.exchange_code(code, REDIRECT_URI, other_verifier)
    assert caught.value.http_status == 400
    assert caught.value.error_class is ErrorClass.PERMANENT
    assert other_verifier not in str(caught.value) + caught.value.response_excerpt


async def test_code_is_single_use_and_bound_to_the_redirect_uri(world: XWorld) -> None:
    code, verifier = await consent(world)
    with pytest.raises(PlatformError):
        await world.kit.oauth.exchange_code(code, "http://127.0.0.1:9999/elsewhere", verifier)
    code, verifier = await consent(world)
    await world.kit.oauth.exchange_code(code, REDIRECT_URI, verifier)
    with pytest.raises(PlatformError) as caught:
        await world.kit.oauth.exchange_code(code, REDIRECT_URI, verifier)
    assert "Value passed for the token was invalid." in caught.value.response_excerpt


async def test_refresh_rotates_and_the_old_refresh_token_dies(world: XWorld) -> None:
    code, verifier = await consent(world, account="bob")
    first = await world.kit.oauth.exchange_code(code, REDIRECT_URI, verifier)
    assert first.refresh_token is not None
    second = await world.kit.oauth.refresh(first.refresh_token)
    assert second.refresh_token is not None
    assert second.refresh_token != first.refresh_token
    assert second.access_token != first.access_token
    assert (await world.kit.oauth.identities(second.access_token))[0].name == "bob"
    with pytest.raises(RefreshError) as caught:
        await world.kit.oauth.refresh(first.refresh_token)
    assert caught.value.permanent
    assert caught.value.http_status == 400
    third = await world.kit.oauth.refresh(second.refresh_token)
    assert third.refresh_token not in (first.refresh_token, second.refresh_token)


async def test_refresh_lost_in_flight_leaves_the_old_token_dead(world: XWorld) -> None:
    """Rotation's sharp edge: the grant happened but the answer was lost, so the stored refresh token is dead."""
    minted = await world.mint("carol")
    await world.arm(kind="accept_then_fail", operation="token", account=None, mode="503")
    with pytest.raises(RefreshError) as lost:
        await world.kit.oauth.refresh(minted["refresh_token"])
    assert not lost.value.permanent
    with pytest.raises(RefreshError) as dead:
        await world.kit.oauth.refresh(minted["refresh_token"])
    assert dead.value.permanent


async def test_expired_access_token_is_401_refresh_token(world: XWorld) -> None:
    minted = await world.mint("dave")
    account = await world.account(minted["access_token"])
    await world.control.post("/_sandbox/accounts/dave/expire")
    with pytest.raises(PlatformError) as caught:
        await world.kit.oauth.identities(minted["access_token"])
    assert caught.value.http_status == 401
    assert caught.value.error_class is ErrorClass.REFRESH_TOKEN
    with pytest.raises(PlatformError) as on_publish:
        await world.kit.client.publish(account, minted["access_token"], world.kit.rules.prepare(Draft(text="hi")))
    assert on_publish.value.error_class is ErrorClass.REFRESH_TOKEN
    refreshed = await world.kit.oauth.refresh(minted["refresh_token"])  # refresh tokens survive expiry
    assert (await world.kit.oauth.identities(refreshed.access_token))[0].name == "dave"


async def test_revoked_account_cannot_refresh(world: XWorld) -> None:
    minted = await world.mint("erin")
    await world.control.post("/_sandbox/accounts/erin/revoke")
    with pytest.raises(RefreshError) as caught:
        await world.kit.oauth.refresh(minted["refresh_token"])
    assert caught.value.permanent


async def test_revoke_endpoint_revokes_an_access_token(world: XWorld) -> None:
    minted = await world.mint("frank")
    answer = await world.control.post(
        "/2/oauth2/revoke", data={"token": minted["access_token"]}, auth=(CLIENT_ID, CLIENT_SECRET)
    )
    assert answer.json() == {"revoked": True}
    with pytest.raises(PlatformError) as caught:
        await world.kit.oauth.identities(minted["access_token"])
    assert caught.value.http_status == 401


async def test_token_endpoint_wants_basic_client_auth(world: XWorld) -> None:
    code, verifier = await consent(world)
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI, "code_verifier": verifier}
    without = await world.control.post("/2/oauth2/token", data={**form, "client_id": CLIENT_ID})
    assert without.status_code == 401
    assert without.json() == {"error": "unauthorized_client", "error_description": "Missing valid authorization header"}
    wrong = await world.control.post("/2/oauth2/token", data=form, auth=(CLIENT_ID, "not-the-secret"))
    assert wrong.status_code == 401
    right = await world.control.post("/2/oauth2/token", data=form, auth=(CLIENT_ID, CLIENT_SECRET))
    body = right.json()
    assert right.status_code == 200
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 7200
    assert body["scope"] == "tweet.read tweet.write users.read offline.access media.write"
    assert body["refresh_token"].startswith("x-rt-")


async def test_no_refresh_token_without_offline_access(world: XWorld) -> None:
    verifier, challenge = pkce_pair()
    params = {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT_URI,
        "scope": "tweet.read users.read",
        "state": "s",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    answer = await world.control.get("/i/oauth2/authorize", params=params)
    code = parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI, "code_verifier": verifier}
    body = (await world.control.post("/2/oauth2/token", data=form, auth=(CLIENT_ID, CLIENT_SECRET))).json()
    assert "refresh_token" not in body
    assert body["scope"] == "tweet.read users.read"


@pytest.mark.parametrize(
    ("drop", "extra"),
    [
        ("code_challenge", {}),
        ("state", {}),
        ("redirect_uri", {}),
        (None, {"client_id": "unknown-client"}),
        (None, {"scope": "tweet.read made.up"}),
        (None, {"code_challenge_method": "S512"}),
    ],
)
async def test_consent_refuses_malformed_requests(world: XWorld, drop: str | None, extra: dict[str, str]) -> None:
    request = world.kit.oauth.authorization_url(state="s", redirect_uri=REDIRECT_URI)
    params = {k: v[0] for k, v in parse_qs(urlsplit(request.url).query).items() if k != drop} | extra
    answer = await world.control.get("/i/oauth2/authorize", params=params, follow_redirects=False)
    assert answer.status_code == 400


async def test_user_can_deny_consent(world: XWorld) -> None:
    request = world.kit.oauth.authorization_url(state="s-9", redirect_uri=REDIRECT_URI)
    answer = await world.control.get(f"{request.url}&deny=1", follow_redirects=False)
    query = parse_qs(urlsplit(answer.headers["location"]).query)
    assert query == {"error": ["access_denied"], "state": ["s-9"]}


async def test_token_outage_and_throttling_are_transient(world: XWorld) -> None:
    minted = await world.mint("gina")
    for error in ("service_unavailable", "rate_limited"):
        await world.arm(kind="error", operation="token", account=None, error=error)
        with pytest.raises(RefreshError) as caught:
            await world.kit.oauth.refresh(minted["refresh_token"])
        assert not caught.value.permanent
    assert (await world.kit.oauth.refresh(minted["refresh_token"])).refresh_token  # untouched by the faults


async def test_token_endpoint_unreachable_is_transient() -> None:
    async with x_world() as world:
        settings = world.settings.model_copy(update={"token_url": "http://127.0.0.1:9/2/oauth2/token"})
        with pytest.raises(RefreshError) as caught:
            await XOAuthClient(settings, world.http).refresh("whatever")
        assert not caught.value.permanent


async def test_invalid_grant_switch() -> None:
    async with x_world(XSandboxConfig(refresh_failure_error="invalid_grant")) as world:
        answer = await world.control.post(
            "/2/oauth2/token",
            data={"grant_type": "refresh_token", "refresh_token": "nope"},
            auth=(CLIENT_ID, CLIENT_SECRET),
        )
        assert answer.status_code == 400
        assert answer.json()["error"] == "invalid_grant"
        with pytest.raises(RefreshError) as caught:
            await world.kit.oauth.refresh("nope")
        assert caught.value.permanent


async def test_identity_of_a_configured_account() -> None:
    config = XSandboxConfig(accounts={"brand": XAccountProfile(user_id="2244994945", username="XDevelopers")})
    async with x_world(config) as world:
        minted = await world.mint("brand")
        [identity] = await world.kit.oauth.identities(minted["access_token"])
        assert (identity.platform_account_id, identity.name) == ("2244994945", "XDevelopers")
        me = await world.control.get("/2/users/me", headers={"Authorization": f"Bearer {minted['access_token']}"})
        assert me.json() == {"data": {"id": "2244994945", "name": "brand", "username": "XDevelopers"}}
        assert isinstance(me, httpx.Response)
