"""The LinkedIn sandbox itself: what the contract and the SDK tests do not cover."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI

from herald.sandboxes.linkedin.app import create_app
from herald.sandboxes.linkedin.config import LinkedInSandboxConfig
from herald.sandboxes.linkedin.little_text import render
from herald.sandboxes.linkedin.versions import VersionPolicy
from herald.sandboxes.oauth import s256
from tests.platforms.test_linkedin_support import (
    BASE_SCOPES,
    MEMBER,
    MEMBER_URN,
    ORGANIZATION_SCOPES,
    ORGANIZATION_URN,
    READ_BACK_SCOPES,
    VERSION,
    mint,
    post_body,
    rest_headers,
)
from tests.support.eventually import eventually
from tests.support.servers import serve


@pytest.fixture(scope="module")
def sandbox_url() -> Iterator[str]:
    with serve(create_app()) as url:
        yield url


@pytest.fixture
async def api(sandbox_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sandbox_url) as client:
        (await client.post("/_sandbox/reset")).raise_for_status()
        yield client


@pytest.fixture
async def token(api: httpx.AsyncClient) -> str:
    return str((await mint(api, READ_BACK_SCOPES))["access_token"])


async def in_process(app: FastAPI) -> httpx.AsyncClient:
    """A client calling ``app`` in process (for one-off configurations)."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sandbox")


async def create(api: httpx.AsyncClient, token: str, body: dict[str, Any], **headers: str) -> httpx.Response:
    return await api.post("/rest/posts", json=body, headers={**rest_headers(token), **headers})


async def test_healthz(api: httpx.AsyncClient) -> None:
    response = await api.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


async def test_create_answers_201_with_the_id_header_an_empty_body_and_no_rate_limit_headers(
    api: httpx.AsyncClient, token: str
) -> None:
    response = await create(api, token, post_body("hello"))
    assert response.status_code == 201
    assert response.content == b""
    assert response.headers["x-restli-id"].startswith("urn:li:share:")
    assert len(response.headers["x-restli-id"].removeprefix("urn:li:share:")) == 19
    assert not [h for h in response.headers if "rate" in h.lower() or h.lower() == "retry-after"]


async def test_create_calls_are_counted_per_account(api: httpx.AsyncClient, token: str) -> None:
    await create(api, token, post_body("one"))
    await create(api, token, post_body("one"))  # a refused duplicate still counts as a call
    stats = (await api.get("/_sandbox/stats")).json()
    assert stats["create_requests"] == {MEMBER: 2}
    assert stats["posts"] == {MEMBER: 1}


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        pytest.param({"LinkedIn-Version": ""}, 400, "VERSION_MISSING", id="missing"),
        pytest.param({"LinkedIn-Version": "202401"}, 426, "NONEXISTENT_VERSION", id="sunset"),
        pytest.param({"LinkedIn-Version": "209912"}, 426, "NONEXISTENT_VERSION", id="future"),
        pytest.param({"LinkedIn-Version": "2026-07"}, 426, "NONEXISTENT_VERSION", id="malformed"),
        pytest.param({"X-Restli-Protocol-Version": ""}, 400, "ILLEGAL_ARGUMENT", id="no-restli-protocol"),
    ],
)
async def test_gateway_checks(
    api: httpx.AsyncClient, token: str, headers: dict[str, str], status: int, code: str
) -> None:
    sent = {**rest_headers(token), **headers}
    response = await api.post("/rest/posts", json=post_body("x"), headers={k: v for k, v in sent.items() if v})
    assert (response.status_code, response.json()["code"]) == (status, code)
    assert (await api.get("/_sandbox/posts")).json() == []


def test_the_active_version_window_is_about_a_year() -> None:
    policy = VersionPolicy.from_config(LinkedInSandboxConfig(), today=dt.date(2026, 11, 28))
    assert (policy.oldest, policy.newest) == ("202512", "202611")
    assert policy.is_active("202607")
    assert not policy.is_active("202511")
    configured = VersionPolicy.from_config(LinkedInSandboxConfig(inactive_versions=frozenset({"202607"})))
    assert not configured.is_active("202607")


@pytest.mark.parametrize(
    ("authorization", "service_error_code", "code"),
    [
        pytest.param(None, 401, None, id="no-token"),
        pytest.param("Bearer garbage", 65600, "INVALID_ACCESS_TOKEN", id="garbage"),
    ],
)
async def test_token_checks(
    api: httpx.AsyncClient, authorization: str | None, service_error_code: int, code: str | None
) -> None:
    headers = rest_headers("x")
    del headers["Authorization"]
    if authorization:
        headers["Authorization"] = authorization
    response = await api.post("/rest/posts", json=post_body("x"), headers=headers)
    body = response.json()
    assert (response.status_code, body["serviceErrorCode"], body.get("code")) == (401, service_error_code, code)


async def test_expired_and_revoked_tokens(api: httpx.AsyncClient, token: str) -> None:
    await api.post(f"/_sandbox/accounts/{MEMBER}/expire")
    expired = (await create(api, token, post_body("x"))).json()
    assert (expired["serviceErrorCode"], expired["code"]) == (65602, "EXPIRED_ACCESS_TOKEN")
    await api.post(f"/_sandbox/accounts/{MEMBER}/revoke")
    revoked = (await create(api, token, post_body("x"))).json()
    assert (revoked["serviceErrorCode"], revoked["code"]) == (65601, "REVOKED_ACCESS_TOKEN")


async def test_malformed_json(api: httpx.AsyncClient, token: str) -> None:
    response = await api.post("/rest/posts", content=b"{not json", headers=rest_headers(token))
    assert response.status_code == 400
    assert response.json() == {
        "status": 400,
        "code": "ILLEGAL_ARGUMENT",
        "message": "Request body could not be converted to data map",
    }


async def test_missing_required_fields_are_each_named(api: httpx.AsyncClient, token: str) -> None:
    response = await create(api, token, {"author": MEMBER_URN})
    assert response.status_code == 422
    assert response.json()["message"] == "".join(
        f"ERROR :: /{field} :: field is required but not found and has no default value\n"
        for field in ("commentary", "visibility", "distribution", "lifecycleState")
    )


@pytest.mark.parametrize(
    ("extra", "line"),
    [
        ({"colour": "red"}, "ERROR :: /colour :: unrecognized field found but not allowed"),
        ({"visibility": "FRIENDS"}, 'ERROR :: /visibility :: "FRIENDS" is not an enum symbol'),
        ({"lifecycleState": "LIVE"}, 'ERROR :: /lifecycleState :: "LIVE" is not an enum symbol'),
        ({"author": "urn:li:company:1"}, "ERROR :: /author :: 'urn:li:company:1' is not a valid person"),
        ({"commentary": 42}, "ERROR :: /commentary :: 42 cannot be coerced to String"),
        (
            {"content": {"article": {"source": "https://example.com"}}},
            "ERROR :: /content/article/title :: field is required",
        ),
        (
            {"distribution": {"feedDistribution": "MAIN_FEED", "extra": 1}},
            "ERROR :: /distribution/extra :: unrecognized field",
        ),
    ],
)
async def test_schema_problems_are_422(api: httpx.AsyncClient, token: str, extra: dict[str, Any], line: str) -> None:
    response = await create(api, token, post_body("x", **extra))
    assert response.status_code == 422
    assert line in response.json()["message"]


async def test_commentary_limit_counts_utf16_units(api: httpx.AsyncClient, token: str) -> None:
    assert (await create(api, token, post_body("a" * 3000))).status_code == 201
    assert (await create(api, token, post_body("🎉" * 1500))).status_code == 201
    too_long = await create(api, token, post_body("🎉" * 1500 + "a"))
    assert too_long.status_code == 422
    assert "length 3001 exceeds maximum length 3000" in too_long.json()["message"]


async def test_duplicates_name_the_existing_post(api: httpx.AsyncClient, token: str) -> None:
    first = await create(api, token, post_body("same words"))
    again = await create(api, token, post_body("same words"))
    assert again.status_code == 422
    body = again.json()
    assert body["message"].endswith(f"Content is a duplicate of {first.headers['x-restli-id']}")
    assert body["errorDetails"]["inputErrors"][0]["code"] == "DUPLICATE_POST"
    assert (await create(api, token, post_body("other words"))).status_code == 201


async def test_the_same_words_from_another_author_are_not_a_duplicate(api: httpx.AsyncClient) -> None:
    token = str((await mint(api, ORGANIZATION_SCOPES))["access_token"])
    assert (await create(api, token, post_body("shared"))).status_code == 201
    assert (await create(api, token, post_body("shared", author=ORGANIZATION_URN))).status_code == 201


async def test_a_deleted_or_reset_post_is_no_longer_a_duplicate(api: httpx.AsyncClient, token: str) -> None:
    urn = (await create(api, token, post_body("gone soon"))).headers["x-restli-id"]
    deleted = await api.delete(f"/rest/posts/{urn}", headers=rest_headers(token))
    assert deleted.status_code == 204
    assert (await api.get(f"/rest/posts/{urn}", headers=rest_headers(token))).status_code == 404
    assert (await create(api, token, post_body("gone soon"))).status_code == 201
    await api.post("/_sandbox/reset")
    assert (await create(api, token, post_body("gone soon"))).status_code == 201


async def test_duplicate_window_is_configurable() -> None:
    app = create_app(LinkedInSandboxConfig(duplicate_window=dt.timedelta(0)))
    async with await in_process(app) as api:
        token = str((await mint(api, BASE_SCOPES))["access_token"])
        assert (await create(api, token, post_body("again"))).status_code == 201
        assert (await create(api, token, post_body("again"))).status_code == 201


async def test_daily_post_limit_answers_429_until_midnight_utc() -> None:
    async with await in_process(create_app(LinkedInSandboxConfig(daily_post_limit=2))) as api:
        token = str((await mint(api, BASE_SCOPES))["access_token"])
        for n in range(2):
            assert (await create(api, token, post_body(f"post {n}"))).status_code == 201
        limited = await create(api, token, post_body("one too many"))
    assert limited.status_code == 429
    assert limited.json() == {
        "status": 429,
        "serviceErrorCode": 101,
        "code": "TOO_MANY_REQUESTS",
        "message": "Resource level throttle limit for calls to this resource is reached.",
    }
    now = dt.datetime.now(dt.UTC)
    midnight = dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    assert abs(int(limited.headers["Retry-After"]) - (midnight - now).total_seconds()) <= 2


async def test_the_bare_real_429_has_no_retry_after() -> None:
    app = create_app(LinkedInSandboxConfig(daily_post_limit=0, send_retry_after=False))
    async with await in_process(app) as api:
        token = str((await mint(api, BASE_SCOPES))["access_token"])
        limited = await create(api, token, post_body("x"))
    assert limited.status_code == 429
    assert "retry-after" not in limited.headers


async def test_rate_limit_fault_lasts_until_until(api: httpx.AsyncClient, token: str) -> None:
    until = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
    await api.post("/_sandbox/faults", json={"kind": "rate_limit", "until": until.isoformat()})
    for _ in range(2):
        limited = await create(api, token, post_body("x"))
        assert limited.status_code == 429
        assert int(limited.headers["Retry-After"]) <= 1

    async def accepted() -> bool:
        return (await create(api, token, post_body("x"))).status_code == 201

    await eventually(accepted, interval=0.1, what="the rate-limit fault cleared")
    assert dt.datetime.now(dt.UTC) >= until  # cleared, but not before `until`


async def test_faults_for_another_account_do_not_apply(api: httpx.AsyncClient, token: str) -> None:
    await api.post("/_sandbox/faults", json={"kind": "error", "error": "server_error", "account": "someone-else"})
    assert (await create(api, token, post_body("x"))).status_code == 201


@pytest.mark.parametrize(
    ("error", "status"),
    [
        ("server_error", 500),
        ("service_unavailable", 503),
        ("gateway_timeout", 504),
        ("rate_limited", 429),
        ("duplicate", 422),
        ("expired_token", 401),
        ("invalid_token", 401),
        ("revoked_token", 401),
        ("missing_token", 401),
        ("access_denied", 403),
        ("bad_request", 400),
        ("validation_error", 422),
        ("version_missing", 400),
        ("nonexistent_version", 426),
        ("no_such_fault", 500),
    ],
)
async def test_error_faults(api: httpx.AsyncClient, token: str, error: str, status: int) -> None:
    await api.post("/_sandbox/faults", json={"kind": "error", "error": error, "count": 1})
    failed = await create(api, token, post_body("x"))
    assert failed.status_code == status
    assert (await api.get("/_sandbox/posts")).json() == []
    assert (await create(api, token, post_body("x"))).status_code == 201  # count=1: consumed


async def test_an_unknown_fault_name_lists_the_known_ones(api: httpx.AsyncClient, token: str) -> None:
    await api.post("/_sandbox/faults", json={"kind": "error", "error": "no_such_fault"})
    message = (await create(api, token, post_body("x"))).json()["message"]
    assert "no_such_fault" in message
    assert "server_error" in message


async def test_accept_then_fail_stores_the_post(api: httpx.AsyncClient, token: str) -> None:
    await api.post("/_sandbox/faults", json={"kind": "accept_then_fail", "mode": "503"})
    failed = await create(api, token, post_body("stored anyway"))
    assert failed.status_code == 503
    assert [p["text"] for p in (await api.get("/_sandbox/posts")).json()] == ["stored anyway"]


async def test_latency_fault_delays_the_call(api: httpx.AsyncClient, token: str) -> None:
    await api.post("/_sandbox/faults", json={"kind": "latency", "latency_ms": 300})
    started = time.monotonic()
    assert (await create(api, token, post_body("slow"))).status_code == 201
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    assert (await create(api, token, post_body("fast"))).status_code == 201
    assert time.monotonic() - started < 0.3


async def test_member_posts_need_r_member_social_to_be_listed(api: httpx.AsyncClient) -> None:
    token = str((await mint(api, BASE_SCOPES))["access_token"])
    await create(api, token, post_body("mine"))
    listed = await api.get(
        "/rest/posts", params={"q": "author", "author": MEMBER_URN, "sortBy": "CREATED"}, headers=rest_headers(token)
    )
    assert listed.status_code == 403
    assert listed.json()["message"] == (
        f"Not enough permissions to access: partnerApiPostsExternal.FINDER-author.{VERSION}01"
    )


async def test_listing_is_newest_first_and_paged(api: httpx.AsyncClient, token: str) -> None:
    ids = [(await create(api, token, post_body(f"p{n}"))).headers["x-restli-id"] for n in range(5)]
    params = {"q": "author", "author": MEMBER_URN, "sortBy": "CREATED", "start": "1", "count": "2"}
    page = (await api.get("/rest/posts", params=params, headers=rest_headers(token))).json()
    assert [e["id"] for e in page["elements"]] == [ids[3], ids[2]]
    assert page["paging"] == {"start": 1, "count": 2, "links": [], "total": 5}
    element = page["elements"][0]
    assert element["commentary"] == "p3"
    assert element["author"] == MEMBER_URN
    assert element["lifecycleState"] == "PUBLISHED"
    assert element["createdAt"] == element["publishedAt"]
    too_many = await api.get("/rest/posts", params={**params, "count": "101"}, headers=rest_headers(token))
    assert too_many.status_code == 400


async def test_organization_acls_need_rw_organization_admin(api: httpx.AsyncClient) -> None:
    member_only = str((await mint(api, BASE_SCOPES))["access_token"])
    admin = str((await mint(api, ORGANIZATION_SCOPES))["access_token"])
    params = {"q": "roleAssignee", "state": "APPROVED"}
    assert (
        await api.get("/rest/organizationAcls", params=params, headers=rest_headers(member_only))
    ).status_code == 403
    acls = (await api.get("/rest/organizationAcls", params=params, headers=rest_headers(admin))).json()
    assert acls["elements"] == [
        {"roleAssignee": MEMBER_URN, "state": "APPROVED", "role": "ADMINISTRATOR", "organization": ORGANIZATION_URN}
    ]


async def test_userinfo(api: httpx.AsyncClient, token: str) -> None:
    info = (await api.get("/v2/userinfo", headers={"Authorization": f"Bearer {token}"})).json()
    assert (info["sub"], info["name"], info["given_name"], info["family_name"]) == (
        MEMBER,
        "Sandbox Member",
        "Sandbox",
        "Member",
    )


async def test_introspection(api: httpx.AsyncClient, token: str) -> None:
    form = {"client_id": "herald-dev", "client_secret": "herald-dev-secret", "token": token}
    assert (await api.post("/oauth/v2/introspectToken", data=form)).json()["active"] is True
    await api.post(f"/_sandbox/accounts/{MEMBER}/revoke")
    assert (await api.post("/oauth/v2/introspectToken", data=form)).json() == {"active": False, "status": "revoked"}


async def test_missing_token_endpoint_parameter(api: httpx.AsyncClient) -> None:
    response = await api.post(
        "/oauth/v2/accessToken", data={"grant_type": "refresh_token", "refresh_token": "x", "client_id": "herald-dev"}
    )
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_request",
        "error_description": 'A required parameter "client_secret" is missing',
    }


async def test_unescaped_little_text_is_truncated_where_linkedin_would(api: httpx.AsyncClient, token: str) -> None:
    await create(api, token, post_body("Step 1) do this"))
    await create(api, token, post_body("Step 1\\) do this"))
    rendered = sorted(p["rendered"] for p in (await api.get("/_sandbox/posts")).json())
    assert rendered == ["Step 1", "Step 1) do this"]


@pytest.mark.parametrize(
    ("commentary", "shown"),
    [
        ("plain", "plain"),
        ("Hi @[Ada](urn:li:person:abc)!", "Hi Ada!"),
        ("{hashtag|\\#|python} rocks", "#python rocks"),
        ("#python rocks", "#python rocks"),
        ("a * b", "a "),
        ("a \\* b", "a * b"),
        ("trailing \\", "trailing "),
    ],
)
def test_little_text_rendering(commentary: str, shown: str) -> None:
    assert render(commentary) == shown


async def test_pkce_is_checked_when_the_authorization_carried_a_challenge(api: httpx.AsyncClient) -> None:
    verifier = "a-long-enough-code-verifier-for-the-sandbox-0123456789"
    redirect_uri = "http://127.0.0.1:9999/callback"
    params = {
        "response_type": "code",
        "client_id": "herald-dev",
        "redirect_uri": redirect_uri,
        "scope": "openid profile",
        "code_challenge": s256(verifier),
        "code_challenge_method": "S256",
    }

    async def exchange(code_verifier: str) -> httpx.Response:
        consent = await api.get("/oauth/v2/authorization", params=params)
        code = parse_qs(urlsplit(consent.headers["location"]).query)["code"][0]
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": "herald-dev",
            "client_secret": "herald-dev-secret",
            "code_verifier": code_verifier,
        }
        return await api.post("/oauth/v2/accessToken", data=form)

    refused = await exchange("the-wrong-verifier")
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_request"
    assert (await exchange(verifier)).status_code == 200


async def test_unknown_scopes_are_refused_at_consent(api: httpx.AsyncClient) -> None:
    params = {
        "response_type": "code",
        "client_id": "herald-dev",
        "redirect_uri": "http://127.0.0.1:9999/callback",
        "scope": "openid r_everything",
        "state": "s",
    }
    consent = await api.get("/oauth/v2/authorization", params=params)
    query = parse_qs(urlsplit(consent.headers["location"]).query)
    assert query["error"] == ["unauthorized_scope_error"]
    assert query["state"] == ["s"]
