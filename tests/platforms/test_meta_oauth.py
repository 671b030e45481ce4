"""Facebook Login against the sandbox: code → short-lived → long-lived user token → Pages with Page tokens."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from herald.contracts.media import Surface
from herald.platforms.base import Account, Draft, ErrorClass, PlatformError, PlatformKit, RefreshError, TokenSet
from herald.platforms.meta import MetaSettings, build
from tests.platforms.test_meta_support import (
    CLIENT_ID,
    CLIENT_SECRET,
    IG_USER_ID,
    PAGE_ID,
    REDIRECT_URI,
    USER_ID,
    Served,
    sandbox_settings,
    served_sandbox,
)

SECOND_PAGE_ID = "100000000000002"


@dataclass
class Env:
    served: Served
    kit: PlatformKit
    http: httpx.AsyncClient


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    async with served_sandbox() as served, httpx.AsyncClient() as http:
        yield Env(served, build(sandbox_settings(served.base_url), http), http)


async def consent(env: Env, kit: PlatformKit | None = None, **extra: str) -> str:
    """Run the Login dialog; return the authorization code."""
    request = (kit or env.kit).oauth.authorization_url(state="st-1", redirect_uri=REDIRECT_URI)
    url = f"{request.url}&{urlencode(extra)}" if extra else request.url
    answer = await env.served.control.get(url, follow_redirects=False)
    assert answer.status_code == 302
    location = urlsplit(answer.headers["location"])
    assert location.fragment == "_=_"  # Facebook's redirect quirk
    query = parse_qs(location.query)
    assert query["state"] == ["st-1"]
    return query["code"][0]


async def connect(env: Env) -> TokenSet:
    return await env.kit.oauth.exchange_code(await consent(env), REDIRECT_URI, None)


async def debug(env: Env, token: str) -> dict[str, object]:
    answer = await env.served.control.get(
        "/v25.0/debug_token", params={"input_token": token, "access_token": f"{CLIENT_ID}|{CLIENT_SECRET}"}
    )
    data: dict[str, object] = answer.json()["data"]
    return data


def test_authorization_url_is_the_login_dialog_without_pkce() -> None:
    kit = build(sandbox_settings("https://sandbox.test"), httpx.AsyncClient())
    request = kit.oauth.authorization_url(state="abc", redirect_uri=REDIRECT_URI)
    url = urlsplit(request.url)
    assert (url.netloc, url.path) == ("sandbox.test", "/v25.0/dialog/oauth")
    query = parse_qs(url.query)
    assert query == {
        "client_id": [CLIENT_ID],
        "redirect_uri": [REDIRECT_URI],
        "state": ["abc"],
        "response_type": ["code"],
        "scope": ["pages_show_list,pages_manage_posts,pages_read_engagement,instagram_basic,instagram_content_publish"],
    }
    assert request.code_verifier is None


def test_default_settings_use_the_real_hosts() -> None:
    settings = MetaSettings()
    assert settings.dialog_url() == "https://www.facebook.com/v25.0/dialog/oauth"
    assert settings.access_token_url() == "https://graph.facebook.com/v25.0/oauth/access_token"
    assert settings.graph("1", "feed") == "https://graph.facebook.com/v25.0/1/feed"
    assert settings.timeout_seconds == 10


async def test_full_flow_code_short_long_pages_publish(env: Env) -> None:
    before = dt.datetime.now(dt.UTC)
    tokens = await connect(env)
    # Both exchanges happened (code, then fb_exchange_token) and the result is the 60-day user token.
    assert env.served.sandbox.state.tokens.token_requests[USER_ID] == 2
    assert tokens.refresh_token is None
    assert tokens.expires_at is not None
    assert abs(tokens.expires_at - (before + dt.timedelta(days=60))) < dt.timedelta(minutes=1)
    assert (await debug(env, tokens.access_token))["type"] == "USER"

    identities = await env.kit.oauth.identities(tokens.access_token)
    # The first Page has an Instagram professional account linked to it: it follows its Page, with its token.
    assert [(i.platform_account_id, i.name, i.surface) for i in identities] == [
        (PAGE_ID, "Herald Sandbox Page", Surface.FACEBOOK_PAGE),
        (IG_USER_ID, "herald.sandbox", Surface.INSTAGRAM),
        (SECOND_PAGE_ID, "Herald Second Page", Surface.FACEBOOK_PAGE),
    ]
    assert identities[1].page_token == identities[0].page_token
    for identity in (identities[0], identities[2]):
        assert identity.page_token is not None
        assert identity.page_token.expires_at is None
        info = await debug(env, identity.page_token.access_token)
        assert (info["type"], info["expires_at"], info["profile_id"]) == ("PAGE", 0, identity.platform_account_id)

    page_token = identities[0].page_token
    assert page_token is not None
    post = env.kit.rules.prepare(Draft(text="Connected and posting"))
    published = await env.kit.client.publish(Account(PAGE_ID), page_token.access_token, post)
    assert published.post_id.startswith(f"{PAGE_ID}_")
    assert published.url == f"https://www.facebook.com/{published.post_id}"


async def test_the_user_token_cannot_publish(env: Env) -> None:
    tokens = await connect(env)
    post = env.kit.rules.prepare(Draft(text="As the user"))
    with pytest.raises(PlatformError) as caught:
        await env.kit.client.publish(Account(PAGE_ID), tokens.access_token, post)
    assert (caught.value.http_status, caught.value.platform_code) == (403, "200")
    assert caught.value.error_class is ErrorClass.PERMANENT


async def test_revocation_makes_page_tokens_fail_with_190_and_reconnect(env: Env) -> None:
    tokens = await connect(env)
    page_token = (await env.kit.oauth.identities(tokens.access_token))[0].page_token
    assert page_token is not None
    (await env.served.control.post(f"/_sandbox/accounts/{USER_ID}/revoke")).raise_for_status()  # password change

    post = env.kit.rules.prepare(Draft(text="After the password change"))
    with pytest.raises(PlatformError) as caught:
        await env.kit.client.publish(Account(PAGE_ID), page_token.access_token, post)
    assert caught.value.error_class is ErrorClass.RECONNECT
    assert caught.value.platform_code == "190/460"
    assert page_token.access_token not in caught.value.message + caught.value.response_excerpt

    with pytest.raises(RefreshError) as refused:
        await env.kit.oauth.refresh(tokens.access_token)
    assert refused.value.permanent
    assert tokens.access_token not in str(refused.value)


async def test_refresh_exchanges_a_live_long_lived_token_for_a_new_one(env: Env) -> None:
    tokens = await connect(env)
    fresh = await env.kit.oauth.refresh(tokens.access_token)
    assert fresh.access_token != tokens.access_token
    assert fresh.expires_at is not None
    assert fresh.expires_at > dt.datetime.now(dt.UTC) + dt.timedelta(days=59)
    assert await env.kit.oauth.identities(fresh.access_token)


async def test_refresh_with_an_expired_user_token_is_permanent(env: Env) -> None:
    tokens = await connect(env)
    (await env.served.control.post(f"/_sandbox/accounts/{USER_ID}/expire")).raise_for_status()
    with pytest.raises(RefreshError) as caught:
        await env.kit.oauth.refresh(tokens.access_token)
    assert caught.value.permanent
    assert caught.value.http_status == 400


@pytest.mark.parametrize("error", ["server_error", "unknown_error", "service_unavailable", "app_rate_limited"])
async def test_token_endpoint_trouble_is_transient(env: Env, error: str) -> None:
    tokens = await connect(env)
    await env.served.arm(kind="error", operation="token", error=error)
    with pytest.raises(RefreshError) as caught:
        await env.kit.oauth.refresh(tokens.access_token)
    assert not caught.value.permanent


async def test_token_endpoint_rate_limit_and_timeout_are_transient(env: Env) -> None:
    tokens = await connect(env)
    until = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)
    await env.served.arm(kind="rate_limit", operation="token", until=until.isoformat())
    with pytest.raises(RefreshError) as limited:
        await env.kit.oauth.refresh(tokens.access_token)
    assert not limited.value.permanent
    (await env.served.control.delete("/_sandbox/faults")).raise_for_status()

    await env.served.arm(kind="latency", operation="token", latency_ms=700)
    quick = build(sandbox_settings(env.served.base_url, timeout_seconds=0.2), env.http)
    with pytest.raises(RefreshError) as timed_out:
        await quick.oauth.refresh(tokens.access_token)
    assert not timed_out.value.permanent


async def test_a_token_fault_for_one_user_spares_another(env: Env) -> None:
    tokens = await connect(env)
    await env.served.arm(kind="error", operation="token", account="someone-else", error="server_error")
    assert (await env.kit.oauth.refresh(tokens.access_token)).access_token


async def test_a_used_code_cannot_be_exchanged_twice(env: Env) -> None:
    code = await consent(env)
    await env.kit.oauth.exchange_code(code, REDIRECT_URI, None)
    with pytest.raises(PlatformError) as caught:
        await env.kit.oauth.exchange_code(code, REDIRECT_URI, None)
    assert (caught.value.error_class, caught.value.platform_code) == (ErrorClass.PERMANENT, "100")


async def test_a_redirect_uri_mismatch_is_refused(env: Env) -> None:
    code = await consent(env)
    with pytest.raises(PlatformError) as caught:
        await env.kit.oauth.exchange_code(code, "http://127.0.0.1:9999/elsewhere", None)
    assert caught.value.platform_code == "100/36008"


async def test_a_token_endpoint_outage_during_connect_is_retry_later(env: Env) -> None:
    code = await consent(env)
    await env.served.arm(kind="error", operation="token", error="server_error")
    with pytest.raises(PlatformError) as caught:
        await env.kit.oauth.exchange_code(code, REDIRECT_URI, None)
    assert caught.value.error_class is ErrorClass.RETRY_LATER


async def test_pages_granted_without_publish_permission_cannot_post(env: Env) -> None:
    narrow = build(sandbox_settings(env.served.base_url, scopes=("pages_show_list",)), env.http)
    tokens = await narrow.oauth.exchange_code(await consent(env, narrow), REDIRECT_URI, None)
    page_token = (await narrow.oauth.identities(tokens.access_token))[0].page_token
    assert page_token is not None
    with pytest.raises(PlatformError) as caught:
        await narrow.client.publish(Account(PAGE_ID), page_token.access_token, narrow.rules.prepare(Draft(text="x")))
    assert (caught.value.http_status, caught.value.platform_code) == (403, "200")


async def test_without_instagram_basic_pages_connect_without_their_instagram_account(env: Env) -> None:
    scopes = ("pages_show_list", "pages_manage_posts", "pages_read_engagement")
    narrow = build(sandbox_settings(env.served.base_url, scopes=scopes), env.http)
    tokens = await narrow.oauth.exchange_code(await consent(env, narrow), REDIRECT_URI, None)
    identities = await narrow.oauth.identities(tokens.access_token)
    assert [(i.platform_account_id, i.surface) for i in identities] == [
        (PAGE_ID, Surface.FACEBOOK_PAGE),
        (SECOND_PAGE_ID, Surface.FACEBOOK_PAGE),
    ]


async def test_another_consenting_user_gets_their_own_page(env: Env) -> None:
    code = await consent(env, account="alice")
    tokens = await env.kit.oauth.exchange_code(code, REDIRECT_URI, None)
    identities = await env.kit.oauth.identities(tokens.access_token)
    assert len(identities) == 1
    assert identities[0].platform_account_id not in (PAGE_ID, SECOND_PAGE_ID)
    assert identities[0].name == "alice Page"


async def test_identities_with_a_page_token_is_refused(env: Env) -> None:
    with pytest.raises(PlatformError) as caught:
        await env.kit.oauth.identities(await env.served.mint(PAGE_ID))
    assert caught.value.platform_code == "100"


# Token-endpoint answers the sandbox does not produce (OAuth-style bodies, bare statuses, transport errors).

Responder = Callable[[httpx.Request], httpx.Response]


def mocked(responder: Responder) -> PlatformKit:
    transport = httpx.MockTransport(responder)
    return build(sandbox_settings("https://graph.test"), httpx.AsyncClient(transport=transport))


@pytest.mark.parametrize(
    ("status", "body", "permanent"),
    [
        (
            400,
            {"error": "invalid_request", "error_description": "The provided token is invalid, expired or revoked"},
            True,
        ),
        (400, {"error": "invalid_grant", "error_description": "Token revoked"}, True),
        (401, {"error": {"message": "Invalid OAuth access token", "type": "OAuthException", "code": 190}}, True),
        (400, {"error": {"message": "Error validating client secret.", "type": "OAuthException", "code": 1}}, False),
        (500, {"error": {"message": "An unknown error occurred", "type": "OAuthException", "code": 1}}, False),
        (200, {"error": "invalid_grant", "error_description": "Token revoked"}, True),
        (503, "Service Unavailable", False),
        (429, "", False),
    ],
)
async def test_refresh_failure_forms(status: int, body: object, permanent: bool) -> None:
    def respond(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=body) if isinstance(body, dict) else httpx.Response(status, text=str(body))

    with pytest.raises(RefreshError) as caught:
        await mocked(respond).oauth.refresh("EAAHlonglived")
    assert caught.value.permanent is permanent
    assert caught.value.http_status == status


@pytest.mark.parametrize(
    "body",
    [
        {"error": {"message": "Error validating client secret.", "type": "OAuthException", "code": 1}},
        {"error": {"message": "Error validating application. Invalid application ID.", "code": 101}},
        {"error": "invalid_client", "error_description": "Client authentication failed"},
    ],
    ids=["client-secret", "application-id", "invalid_client"],
)
async def test_a_refresh_refused_for_heralds_own_app_is_configuration(body: dict[str, object]) -> None:
    with pytest.raises(RefreshError) as caught:
        await mocked(lambda request: httpx.Response(400, json=body)).oauth.refresh("EAAHlonglived")
    assert caught.value.configuration
    assert not caught.value.permanent


async def test_refresh_timeout_is_transient() -> None:
    def respond(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with pytest.raises(RefreshError) as caught:
        await mocked(respond).oauth.refresh("EAAHlonglived")
    assert not caught.value.permanent


async def test_refresh_sends_the_documented_exchange_and_never_leaks_secrets() -> None:
    seen: list[httpx.Request] = []

    def respond(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        message = f"Bad secret {CLIENT_SECRET} for EAAHlonglived"
        return httpx.Response(400, json={"error": {"message": message, "type": "OAuthException", "code": 190}})

    with pytest.raises(RefreshError) as caught:
        await mocked(respond).oauth.refresh("EAAHlonglived")
    query = parse_qs(seen[0].url.query.decode())
    assert seen[0].method == "GET"
    assert seen[0].url.path == "/v25.0/oauth/access_token"
    assert query == {
        "client_id": [CLIENT_ID],
        "client_secret": [CLIENT_SECRET],
        "grant_type": ["fb_exchange_token"],
        "fb_exchange_token": ["EAAHlonglived"],
    }
    assert CLIENT_SECRET not in str(caught.value)
    assert "EAAHlonglived" not in str(caught.value)
