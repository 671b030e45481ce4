"""LinkedIn OAuth against the sandbox: consent, code exchange, refresh (no rotation), identities, failure forms."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from pydantic import SecretStr

from herald.platforms.base import ErrorClass, PlatformError, RefreshError, TokenSet
from herald.platforms.linkedin import LinkedInOAuth, LinkedInSettings
from herald.sandboxes.linkedin.app import create_app
from herald.sandboxes.linkedin.config import LinkedInSandboxConfig
from tests.platforms.test_linkedin_support import (
    CLIENT_ID,
    MEMBER,
    MEMBER_URN,
    ORGANIZATION_SCOPES,
    ORGANIZATION_URN,
    mint,
    sandbox_settings,
)
from tests.support.servers import serve

REDIRECT_URI = "http://127.0.0.1:9999/callback"
SIXTY_DAYS = dt.timedelta(seconds=5_184_000)
A_YEAR = dt.timedelta(days=365)


@pytest.fixture(scope="module")
def sandbox_url() -> Iterator[str]:
    with serve(create_app()) as url:
        yield url


@pytest.fixture(scope="module")
def no_refresh_url() -> Iterator[str]:
    """An app without programmatic refresh tokens (most self-serve apps, docs/platforms.md "LinkedIn: OAuth")."""
    with serve(create_app(LinkedInSandboxConfig(issue_refresh_tokens=False))) as url:
        yield url


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture
async def control(sandbox_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sandbox_url) as client:
        (await client.post("/_sandbox/reset")).raise_for_status()
        yield client


@pytest.fixture
def oauth(sandbox_url: str, http: httpx.AsyncClient) -> LinkedInOAuth:
    return LinkedInOAuth(sandbox_settings(sandbox_url), http)


async def consent(oauth: LinkedInOAuth, http: httpx.AsyncClient, extra: str = "") -> dict[str, list[str]]:
    """Visit the consent URL (auto-approved) and return the query of the redirect back to us."""
    request = oauth.authorization_url(state="st-42", redirect_uri=REDIRECT_URI)
    answer = await http.get(request.url + extra, follow_redirects=False)
    assert answer.status_code == 302
    location = answer.headers["location"]
    assert location.startswith(REDIRECT_URI)
    return parse_qs(urlsplit(location).query)


async def connect(oauth: LinkedInOAuth, http: httpx.AsyncClient, extra: str = "") -> TokenSet:
    query = await consent(oauth, http, extra)
    return await oauth.exchange_code(query["code"][0], REDIRECT_URI, None)


def test_authorization_url_is_linkedins_web_flow(oauth: LinkedInOAuth, sandbox_url: str) -> None:
    request = oauth.authorization_url(state="st-42", redirect_uri=REDIRECT_URI)
    url = urlsplit(request.url)
    query = parse_qs(url.query)
    assert f"{url.scheme}://{url.netloc}{url.path}" == f"{sandbox_url}/oauth/v2/authorization"
    assert query == {
        "response_type": ["code"],
        "client_id": [CLIENT_ID],
        "redirect_uri": [REDIRECT_URI],
        "state": ["st-42"],
        "scope": ["openid profile w_member_social"],
    }
    assert request.code_verifier is None  # no PKCE in LinkedIn's web flow


def test_default_settings_point_at_linkedin() -> None:
    settings = LinkedInSettings(client_id="id", client_secret=SecretStr("hunter2"))
    assert settings.rest_url == "https://api.linkedin.com/rest"
    assert settings.v2_url == "https://api.linkedin.com/v2"
    assert settings.authorize_url == "https://www.linkedin.com/oauth/v2/authorization"
    assert settings.token_url == "https://www.linkedin.com/oauth/v2/accessToken"
    assert settings.api_version == "202607"
    assert settings.timeout_seconds == 10.0
    assert "hunter2" not in repr(settings)


async def test_full_flow(oauth: LinkedInOAuth, http: httpx.AsyncClient) -> None:
    before = dt.datetime.now(dt.UTC)
    tokens = await connect(oauth, http)
    assert tokens.access_token
    assert tokens.refresh_token
    assert tokens.expires_at is not None
    assert abs(tokens.expires_at - (before + SIXTY_DAYS)) < dt.timedelta(seconds=5)
    assert tokens.refresh_expires_at is not None
    assert abs(tokens.refresh_expires_at - (before + A_YEAR)) < dt.timedelta(seconds=5)
    assert set(tokens.scopes) == {"openid", "profile", "w_member_social"}
    identities = await oauth.identities(tokens.access_token)
    assert [(i.platform_account_id, i.name) for i in identities] == [(MEMBER_URN, "Sandbox Member")]


async def test_state_comes_back_and_codes_are_single_use(oauth: LinkedInOAuth, http: httpx.AsyncClient) -> None:
    query = await consent(oauth, http)
    assert query["state"] == ["st-42"]
    await oauth.exchange_code(query["code"][0], REDIRECT_URI, None)
    with pytest.raises(PlatformError) as caught:
        await oauth.exchange_code(query["code"][0], REDIRECT_URI, None)
    assert caught.value.error_class is ErrorClass.PERMANENT
    assert caught.value.http_status == 400
    assert caught.value.platform_code == "invalid_request"


async def test_redirect_uri_must_match(oauth: LinkedInOAuth, http: httpx.AsyncClient) -> None:
    query = await consent(oauth, http)
    with pytest.raises(PlatformError) as caught:
        await oauth.exchange_code(query["code"][0], "http://127.0.0.1:9999/elsewhere", None)
    assert caught.value.error_class is ErrorClass.PERMANENT


async def test_the_consenting_member_can_be_chosen(oauth: LinkedInOAuth, http: httpx.AsyncClient) -> None:
    tokens = await connect(oauth, http, "&account=alice")
    identities = await oauth.identities(tokens.access_token)
    assert [i.platform_account_id for i in identities] == ["urn:li:person:alice"]


async def test_a_member_who_declines_is_sent_back_with_an_error(oauth: LinkedInOAuth, http: httpx.AsyncClient) -> None:
    query = await consent(oauth, http, "&decision=deny")
    assert query["error"] == ["user_cancelled_authorize"]
    assert "code" not in query
    assert query["state"] == ["st-42"]


async def test_organizations_the_member_administers_are_identities(
    oauth: LinkedInOAuth, control: httpx.AsyncClient
) -> None:
    tokens = await mint(control, ORGANIZATION_SCOPES)
    identities = await oauth.identities(tokens["access_token"])
    assert [(i.platform_account_id, i.name) for i in identities] == [
        (MEMBER_URN, "Sandbox Member"),
        (ORGANIZATION_URN, "Herald Sandbox Page"),
    ]


async def test_refresh_returns_the_same_refresh_token_with_a_shrinking_lifetime(
    oauth: LinkedInOAuth, http: httpx.AsyncClient
) -> None:
    tokens = await connect(oauth, http)
    assert tokens.refresh_token is not None
    refreshed = await oauth.refresh(tokens.refresh_token)
    assert refreshed.access_token != tokens.access_token
    assert refreshed.refresh_token in (None, tokens.refresh_token)  # no rotation
    assert refreshed.refresh_expires_at is not None
    assert tokens.refresh_expires_at is not None
    assert refreshed.refresh_expires_at <= tokens.refresh_expires_at + dt.timedelta(seconds=1)
    again = await oauth.refresh(tokens.refresh_token)  # the same refresh token keeps working
    assert again.access_token not in (tokens.access_token, refreshed.access_token)
    assert (await oauth.identities(again.access_token))[0].platform_account_id == MEMBER_URN


async def test_refresh_without_a_new_refresh_token_means_keep_the_old_one(sandbox_url: str) -> None:
    def token_endpoint(request: httpx.Request) -> httpx.Response:
        assert b"grant_type=refresh_token" in request.content
        assert b"client_secret=herald-dev-secret" in request.content
        return httpx.Response(200, json={"access_token": "new-access", "expires_in": 5184000})

    async with httpx.AsyncClient(transport=httpx.MockTransport(token_endpoint)) as mocked:
        refreshed = await LinkedInOAuth(sandbox_settings(sandbox_url), mocked).refresh("old-refresh")
    assert refreshed.access_token == "new-access"
    assert refreshed.refresh_token is None  # None = unchanged: keep "old-refresh"
    assert refreshed.refresh_expires_at is None


async def test_dead_refresh_token_is_permanent(oauth: LinkedInOAuth) -> None:
    with pytest.raises(RefreshError) as caught:
        await oauth.refresh("li-rt-not-a-real-one")
    assert caught.value.permanent
    assert caught.value.http_status == 400
    assert "invalid_request" in str(caught.value)


async def test_revoked_refresh_token_is_permanent(
    oauth: LinkedInOAuth, http: httpx.AsyncClient, control: httpx.AsyncClient
) -> None:
    tokens = await connect(oauth, http)
    assert tokens.refresh_token is not None
    await control.post(f"/_sandbox/accounts/{MEMBER}/revoke")
    with pytest.raises(RefreshError) as caught:
        await oauth.refresh(tokens.refresh_token)
    assert caught.value.permanent


async def test_invalid_grant_form_is_permanent_too(http: httpx.AsyncClient) -> None:
    app = create_app(LinkedInSandboxConfig(refresh_error="invalid_grant"))
    with serve(app) as url, pytest.raises(RefreshError) as caught:
        await LinkedInOAuth(sandbox_settings(url), http).refresh("li-rt-dead")
    assert caught.value.permanent
    assert "invalid_grant" in str(caught.value)


@pytest.mark.parametrize("error", ["server_error", "service_unavailable", "rate_limited"])
async def test_token_endpoint_trouble_is_transient(
    oauth: LinkedInOAuth, control: httpx.AsyncClient, error: str
) -> None:
    await control.post("/_sandbox/faults", json={"kind": "error", "operation": "token", "error": error})
    with pytest.raises(RefreshError) as caught:
        await oauth.refresh("whatever")
    assert not caught.value.permanent
    assert caught.value.http_status is not None
    assert caught.value.http_status >= 429


async def test_token_endpoint_timeout_is_transient(oauth: LinkedInOAuth, control: httpx.AsyncClient) -> None:
    await control.post("/_sandbox/faults", json={"kind": "latency", "operation": "token", "latency_ms": 1500})
    with pytest.raises(RefreshError) as caught:
        await oauth.refresh("whatever")
    assert not caught.value.permanent


async def test_wrong_client_secret_is_not_blamed_on_the_member(sandbox_url: str, http: httpx.AsyncClient) -> None:
    settings = sandbox_settings(sandbox_url).model_copy(update={"client_id": "someone-else"})
    with pytest.raises(RefreshError) as caught:
        await LinkedInOAuth(settings, http).refresh("li-rt-whatever")
    assert caught.value.http_status == 401
    assert not caught.value.permanent
    assert caught.value.configuration


async def test_an_app_without_refresh_tokens(no_refresh_url: str, http: httpx.AsyncClient) -> None:
    oauth = LinkedInOAuth(sandbox_settings(no_refresh_url), http)
    tokens = await connect(oauth, http)
    assert tokens.access_token
    assert tokens.refresh_token is None
    assert tokens.refresh_expires_at is None
    with pytest.raises(RefreshError) as caught:
        await oauth.refresh("anything")
    assert caught.value.permanent


async def test_identities_need_openid(oauth: LinkedInOAuth, control: httpx.AsyncClient) -> None:
    tokens = await mint(control, ("w_member_social",))
    with pytest.raises(PlatformError) as caught:
        await oauth.identities(tokens["access_token"])
    assert caught.value.error_class is ErrorClass.PERMANENT
    assert caught.value.http_status == 403


async def test_identities_with_an_expired_token_ask_for_a_refresh(
    oauth: LinkedInOAuth, control: httpx.AsyncClient
) -> None:
    tokens = await mint(control, ("openid", "profile"))
    await control.post(f"/_sandbox/accounts/{MEMBER}/expire")
    with pytest.raises(PlatformError) as caught:
        await oauth.identities(tokens["access_token"])
    assert caught.value.error_class is ErrorClass.REFRESH_TOKEN
    assert tokens["access_token"] not in str(caught.value) + caught.value.response_excerpt
