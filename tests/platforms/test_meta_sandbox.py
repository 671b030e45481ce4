"""Meta sandbox behaviour the adapter contract does not cover (served in-process through ``httpx.ASGITransport``)."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from herald.sandboxes.meta.app import create_app
from herald.sandboxes.meta.config import MetaSandboxConfig, VersionPolicy
from herald.sandboxes.meta.state import MetaSandbox
from tests.platforms.test_meta_support import CLIENT_ID, CLIENT_SECRET, PAGE_ID, REDIRECT_URI, USER_ID

OTHER_PAGE = "100000000000002"
FEED = f"/v25.0/{PAGE_ID}/feed"
PUBLISHED = f"/v25.0/{PAGE_ID}/published_posts"
APP_TOKEN = f"{CLIENT_ID}|{CLIENT_SECRET}"


@dataclass
class Box:
    client: httpx.AsyncClient
    sandbox: MetaSandbox

    async def mint(self, account: str = PAGE_ID, **body: Any) -> str:
        response = await self.client.post("/_sandbox/tokens", json={"account": account, **body})
        response.raise_for_status()
        token: str = response.json()["access_token"]
        return token

    async def arm(self, **fault: Any) -> None:
        (await self.client.post("/_sandbox/faults", json=fault)).raise_for_status()

    async def post(self, message: str, token: str, path: str = FEED, **extra: str) -> httpx.Response:
        return await self.client.post(path, data={"message": message, "access_token": token, **extra})

    async def posts(self, token: str, path: str = PUBLISHED, **params: str) -> httpx.Response:
        return await self.client.get(path, params={"access_token": token, **params})


async def open_box(config: MetaSandboxConfig | None = None) -> AsyncIterator[Box]:
    app = create_app(config)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://graph.test") as client:
        yield Box(client, app.state.meta)


@pytest.fixture
async def box() -> AsyncIterator[Box]:
    async for opened in open_box():
        yield opened


def error_of(response: httpx.Response) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["error"]
    assert error["fbtrace_id"]
    return error


async def test_healthz(box: Box) -> None:
    response = await box.client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


# --- posting -------------------------------------------------------------------------------------------------


async def test_create_answers_200_with_page_scoped_id_and_usage_headers(box: Box) -> None:
    response = await box.post("hello", await box.mint())
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json; charset=UTF-8"
    assert response.headers["facebook-api-version"] == "v25.0"
    post_id = response.json()["id"]
    assert response.json() == {"id": post_id}
    page, _, number = post_id.partition("_")
    assert page == PAGE_ID
    assert number.isdigit()
    usage = json.loads(response.headers["x-business-use-case-usage"])
    assert usage[PAGE_ID][0]["type"] == "pages"
    assert usage[PAGE_ID][0]["estimated_time_to_regain_access"] == 0
    assert box.sandbox.state.create_requests[PAGE_ID] == 1


@pytest.mark.parametrize("how", ["query", "form", "json", "bearer", "oauth-header"])
async def test_parameters_and_token_are_accepted_in_every_documented_place(box: Box, how: str) -> None:
    token = await box.mint()
    message = f"via {how}"
    if how == "query":
        response = await box.client.post(FEED, params={"message": message, "access_token": token})
    elif how == "form":
        response = await box.client.post(FEED, data={"message": message, "access_token": token})
    elif how == "json":
        response = await box.client.post(FEED, params={"access_token": token}, json={"message": message})
    else:
        scheme = "Bearer" if how == "bearer" else "OAuth"
        response = await box.client.post(
            FEED, json={"message": message}, headers={"authorization": f"{scheme} {token}"}
        )
    assert response.status_code == 200, response.text
    assert [p.text for p in box.sandbox.state.posts.by_account(PAGE_ID)] == [message]


async def test_me_feed_posts_as_the_token_page_and_counts_that_page(box: Box) -> None:
    await box.arm(kind="error", error="server_error", account=OTHER_PAGE)
    response = await box.post("as me", await box.mint(OTHER_PAGE), path="/v25.0/me/feed")
    assert response.status_code == 500  # the fault armed for the Page behind "me"
    assert box.sandbox.state.create_requests == {OTHER_PAGE: 1}
    again = await box.post("as me", await box.mint(OTHER_PAGE), path="/v25.0/me/feed")
    assert again.json()["id"].startswith(f"{OTHER_PAGE}_")


async def test_fields_on_create_return_the_permalink(box: Box) -> None:
    response = await box.post("with fields", await box.mint(), fields="id,permalink_url")
    body = response.json()
    number = body["id"].partition("_")[2]
    assert body["permalink_url"] == f"https://www.facebook.com/{PAGE_ID}/posts/{number}"


async def test_message_length_limit(box: Box) -> None:
    token = await box.mint()
    assert (await box.post("a" * 63_206, token)).status_code == 200
    refused = await box.post("b" * 63_207, token)
    assert refused.status_code == 400
    assert error_of(refused)["code"] == 100
    assert "63206" in error_of(refused)["message"]


async def test_a_post_needs_a_message_or_a_link_and_links_must_be_urls(box: Box) -> None:
    token = await box.mint()
    missing = await box.client.post(FEED, data={"access_token": token})
    assert error_of(missing)["message"] == "(#100) Missing message or attachment"
    bad_link = await box.post("look", token, link="not a url")
    assert (error_of(bad_link)["code"], error_of(bad_link)["error_subcode"]) == (100, 2061006)
    link_only = await box.client.post(FEED, data={"link": "https://example.com/x", "access_token": token})
    assert link_only.status_code == 200


async def test_duplicates_are_per_page_and_within_the_window() -> None:
    config = MetaSandboxConfig(duplicate_window=dt.timedelta(seconds=0))
    async for lenient in open_box(config):
        token = await lenient.mint()
        assert (await lenient.post("same", token)).status_code == 200
        assert (await lenient.post("same", token)).status_code == 200  # window over


async def test_duplicate_is_506_and_not_across_pages(box: Box) -> None:
    token = await box.mint()
    assert (await box.post("twice", token)).status_code == 200
    duplicate = await box.post("twice", token)
    assert (duplicate.status_code, error_of(duplicate)["code"]) == (400, 506)
    assert error_of(duplicate)["message"] == "(#506) Duplicate status message"
    other = await box.post("twice", await box.mint(OTHER_PAGE), path=f"/v25.0/{OTHER_PAGE}/feed")
    assert other.status_code == 200
    (await box.client.post("/_sandbox/reset")).raise_for_status()
    assert (await box.post("twice", token)).status_code == 200  # reset forgets the posts, and so the duplicate


async def test_unpublished_and_scheduled_posts_are_not_read_back(box: Box) -> None:
    token = await box.mint()
    later = str(int(time.time()) + 3600)
    scheduled = await box.client.post(
        FEED,
        params={"access_token": token},
        json={"message": "later", "published": False, "scheduled_publish_time": later},
    )
    assert scheduled.status_code == 200
    conflicting = await box.post("now and later", token, published="true", scheduled_publish_time=later)
    assert error_of(conflicting)["code"] == 100
    assert (await box.posts(token)).json()["data"] == []


# --- tokens and permissions ----------------------------------------------------------------------------------


async def test_a_user_token_cannot_post_to_a_page(box: Box) -> None:
    refused = await box.post("as user", await box.mint(USER_ID))
    assert (refused.status_code, error_of(refused)["code"]) == (403, 200)
    assert error_of(refused)["message"].startswith("(#200) If posting to a group")


async def test_another_pages_token_cannot_post(box: Box) -> None:
    refused = await box.post("wrong page", await box.mint(OTHER_PAGE))
    assert (refused.status_code, error_of(refused)["code"]) == (403, 200)


async def test_a_scoped_token_needs_pages_manage_posts(box: Box) -> None:
    refused = await box.post("scoped", await box.mint(scopes=["pages_read_engagement"]))
    assert refused.status_code == 403
    allowed = await box.post("scoped", await box.mint(scopes=["pages_manage_posts"]))
    assert allowed.status_code == 200


async def test_missing_unknown_and_expired_tokens(box: Box) -> None:
    missing = await box.client.post(FEED, data={"message": "x"})
    assert error_of(missing)["code"] == 104
    unknown = await box.post("x", "EAAHnot-a-token")
    assert (unknown.status_code, error_of(unknown)["code"]) == (400, 190)
    assert "error_subcode" not in error_of(unknown)
    assert unknown.headers["www-authenticate"].startswith('OAuth "Facebook Platform" "invalid_token"')
    token = await box.mint()
    (await box.client.post(f"/_sandbox/accounts/{PAGE_ID}/expire")).raise_for_status()
    expired = await box.post("x", token)
    assert (error_of(expired)["code"], error_of(expired)["error_subcode"]) == (190, 463)
    assert "Session has expired on" in error_of(expired)["message"]


async def test_token_error_status_is_configurable() -> None:
    async for strict in open_box(MetaSandboxConfig(token_error_status=401)):
        assert (await strict.post("x", "EAAHnope")).status_code == 401


async def test_appsecret_proof_is_checked_when_sent(box: Box) -> None:
    bad = await box.post("proof", await box.mint(), appsecret_proof="0" * 64)
    assert (error_of(bad)["code"], error_of(bad)["type"]) == (100, "GraphMethodException")


async def test_reading_posts_needs_a_page_token(box: Box) -> None:
    refused = await box.posts(await box.mint(USER_ID))
    assert error_of(refused)["message"] == "(#190) This method must be called with a Page Access Token"


# --- reading -------------------------------------------------------------------------------------------------


async def test_published_posts_pages_newest_first_with_cursors(box: Box) -> None:
    token = await box.mint()
    for n in range(5):
        assert (await box.post(f"post {n}", token)).status_code == 200
    seen: list[str] = []
    params: dict[str, str] = {"limit": "2"}
    for _ in range(5):
        body = (await box.posts(token, **params)).json()
        seen.extend(item["message"] for item in body["data"])
        assert set(body["data"][0]) == {"created_time", "message", "id"}  # Graph's default fields
        next_url = body.get("paging", {}).get("next")
        if not next_url:
            break
        assert "access_token=" in next_url  # Graph embeds the token in paging links
        params = {k: v[0] for k, v in parse_qs(urlsplit(next_url).query).items() if k != "access_token"}
    assert seen == [f"post {n}" for n in reversed(range(5))]


async def test_since_and_until_filter(box: Box) -> None:
    token = await box.mint()
    await box.post("old", token)
    future = str(int(time.time()) + 120)
    assert (await box.posts(token, since=future)).json()["data"] == []
    assert [p["message"] for p in (await box.posts(token, until=future)).json()["data"]] == ["old"]
    iso = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)).isoformat()
    assert len((await box.posts(token, since=iso)).json()["data"]) == 1
    assert error_of(await box.posts(token, since="yesterday-ish"))["code"] == 100


@pytest.mark.parametrize("edge", ["published_posts", "posts", "feed"])
async def test_unknown_fields_are_rejected(box: Box, edge: str) -> None:
    refused = await box.posts(await box.mint(), path=f"/v25.0/{PAGE_ID}/{edge}", fields="id,bogus")
    assert refused.status_code == 400
    assert error_of(refused)["message"] == "(#100) Tried accessing nonexisting field (bogus) on node type (PagePost)"


async def test_get_and_delete_a_post(box: Box) -> None:
    token = await box.mint()
    post_id = (await box.post("to delete", token)).json()["id"]
    got = await box.client.get(f"/v25.0/{post_id}", params={"access_token": token, "fields": "id,message,is_published"})
    assert got.json() == {"id": post_id, "message": "to delete", "is_published": True}
    deleted = await box.client.delete(f"/v25.0/{post_id}", params={"access_token": token})
    assert deleted.json() == {"success": True}
    gone = await box.client.get(f"/v25.0/{post_id}", params={"access_token": token})
    assert (error_of(gone)["code"], error_of(gone)["error_subcode"]) == (100, 33)


async def test_me_and_page_nodes(box: Box) -> None:
    page_token = await box.mint()
    me = await box.client.get("/v25.0/me", params={"access_token": page_token})
    assert me.json() == {"name": "Herald Sandbox Page", "id": PAGE_ID}
    user = await box.client.get("/v25.0/me", params={"access_token": await box.mint(USER_ID)})
    assert user.json() == {"name": "Sandbox User", "id": USER_ID}


async def test_every_node_and_edge_read_returns_the_id_even_when_fields_omit_it(box: Box) -> None:
    # Graph answers a node's id whether or not ``fields`` names it, after the requested fields.
    token = await box.mint()
    post_id = (await box.post("with an id", token)).json()["id"]
    node = await box.client.get(f"/v25.0/{post_id}", params={"access_token": token, "fields": "message"})
    assert list(node.json().items()) == [("message", "with an id"), ("id", post_id)]
    for edge in ("published_posts", "posts", "feed"):
        listed = (await box.posts(token, path=f"/v25.0/{PAGE_ID}/{edge}", fields="message")).json()["data"]
        assert listed, edge
        assert all(set(item) == {"message", "id"} for item in listed), edge
        assert post_id in [item["id"] for item in listed]
    me = await box.client.get("/v25.0/me", params={"access_token": token, "fields": "name"})
    assert me.json() == {"name": "Herald Sandbox Page", "id": PAGE_ID}
    user_token = await box.mint(USER_ID)
    accounts = await box.client.get("/v25.0/me/accounts", params={"access_token": user_token, "fields": "name"})
    assert all(set(page) == {"name", "id"} for page in accounts.json()["data"])
    created = await box.post("create with fields", token, fields="permalink_url")
    assert set(created.json()) == {"id", "permalink_url"}


# --- versions ------------------------------------------------------------------------------------------------


async def test_an_expired_version_is_served_by_the_oldest_active_one(box: Box) -> None:
    response = await box.posts(await box.mint(), path=f"/v18.0/{PAGE_ID}/published_posts")
    assert response.status_code == 200
    assert response.headers["facebook-api-version"] == box.sandbox.versions.oldest
    assert box.sandbox.versions.oldest != "v18.0"


async def test_unversioned_calls_use_the_default_version(box: Box) -> None:
    response = await box.posts(await box.mint(), path=f"/{PAGE_ID}/published_posts")
    assert response.headers["facebook-api-version"] == "v25.0"


@pytest.mark.parametrize("version", ["v99.0", "v25.7"])
async def test_an_unknown_version_is_an_unknown_path(box: Box, version: str) -> None:
    refused = await box.posts(await box.mint(), path=f"/{version}/{PAGE_ID}/published_posts")
    assert (refused.status_code, error_of(refused)["code"]) == (400, 2500)


async def test_unknown_edges_are_unknown_paths(box: Box) -> None:
    refused = await box.client.get(f"/v25.0/{PAGE_ID}/nonsense", params={"access_token": await box.mint()})
    assert error_of(refused)["message"] == f"Unknown path components: /{PAGE_ID}/nonsense"


def test_version_policy_follows_the_expiry_table() -> None:
    policy = VersionPolicy(MetaSandboxConfig(), dt.date(2026, 11, 28))
    assert (policy.oldest, policy.newest) == ("v21.0", "v26.0")
    assert policy.serve("v20.0") == "v21.0"  # expired 2026-09-24
    assert policy.serve("v2.8") == "v21.0"
    assert policy.serve("v21.0") == "v21.0"
    assert policy.serve(None) == "v25.0"
    assert policy.serve("v27.0") is None
    explicit = VersionPolicy(MetaSandboxConfig(expired_versions=frozenset({"v18.0"})), dt.date(2026, 11, 28))
    assert explicit.serve("v19.0") == "v19.0"


# --- rate limits and faults ----------------------------------------------------------------------------------


async def test_the_page_budget_throttles_with_80001_and_regain_time() -> None:
    async for limited in open_box(MetaSandboxConfig(page_calls_per_day=2, throttle_status=429)):
        token = await limited.mint()
        first = await limited.post("one", token)
        assert json.loads(first.headers["x-business-use-case-usage"])[PAGE_ID][0]["call_count"] == 50
        assert (await limited.post("two", token)).status_code == 200
        throttled = await limited.post("three", token)
        assert (throttled.status_code, error_of(throttled)["code"]) == (429, 80001)
        usage = json.loads(throttled.headers["x-business-use-case-usage"])[PAGE_ID][0]
        assert usage["call_count"] == 100
        assert 1430 <= usage["estimated_time_to_regain_access"] <= 1440
        assert [p.text for p in limited.sandbox.state.posts.by_account(PAGE_ID)] == ["two", "one"]


async def test_rate_limit_fault_points_at_until(box: Box) -> None:
    until = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=30)
    await box.arm(kind="rate_limit", account=PAGE_ID, until=until.isoformat())
    throttled = await box.post("x", await box.mint())
    assert (throttled.status_code, error_of(throttled)["code"]) == (400, 80001)
    usage = json.loads(throttled.headers["x-business-use-case-usage"])[PAGE_ID][0]
    assert usage["estimated_time_to_regain_access"] == 30
    assert "(#80001)" in throttled.headers["www-authenticate"]


@pytest.mark.parametrize(
    ("name", "status", "code", "subcode"),
    [
        ("server_error", 500, 2, None),
        ("unknown_error", 500, 1, None),
        ("service_unavailable", 503, 2, None),
        ("rate_limited", 400, 80001, None),
        ("app_rate_limited", 400, 4, None),
        ("user_rate_limited", 400, 17, 2446079),
        ("page_rate_limited", 400, 32, None),
        ("custom_rate_limited", 400, 613, None),
        ("feed_limit", 400, 341, None),
        ("posting_too_fast", 400, 368, 1390008),
        ("policy_blocked", 400, 368, None),
        ("duplicate", 400, 506, None),
        ("expired_token", 400, 190, 463),
        ("revoked_token", 400, 190, 460),
        ("invalid_token", 400, 190, None),
        ("logged_out", 400, 190, 467),
        ("deauthorized", 400, 190, 458),
        ("permission_denied", 403, 200, None),
        ("bad_request", 400, 100, None),
        ("link_error", 400, 1609005, None),
    ],
)
async def test_every_fault_error_name(box: Box, name: str, status: int, code: int, subcode: int | None) -> None:
    await box.arm(kind="error", error=name)
    response = await box.post("x", await box.mint())
    assert response.status_code == status
    error = error_of(response)
    assert (error["code"], error.get("error_subcode")) == (code, subcode)
    assert not box.sandbox.state.posts.all()
    assert box.sandbox.state.create_requests[PAGE_ID] == 1


async def test_an_unknown_fault_name_says_which_exist(box: Box) -> None:
    await box.arm(kind="error", error="no_such_error")
    response = await box.post("x", await box.mint())
    assert response.status_code == 500
    assert "server_error" in error_of(response)["message"]


async def test_faults_match_operation_and_account(box: Box) -> None:
    token = await box.mint()
    await box.arm(kind="error", error="server_error", operation="read", account=PAGE_ID)
    await box.arm(kind="error", error="server_error", account=OTHER_PAGE)
    assert (await box.post("create is untouched", token)).status_code == 200
    assert (await box.posts(token)).status_code == 500
    assert (await box.posts(token)).status_code == 200  # count=1 consumed


async def test_accept_then_fail_stores_then_answers_503(box: Box) -> None:
    await box.arm(kind="accept_then_fail", mode="503")
    response = await box.post("stored anyway", await box.mint())
    assert (response.status_code, error_of(response)["code"], error_of(response)["is_transient"]) == (503, 2, True)
    assert [p.text for p in box.sandbox.state.posts.by_account(PAGE_ID)] == ["stored anyway"]


async def test_latency_fault_delays_the_call(box: Box) -> None:
    await box.arm(kind="latency", latency_ms=200)
    started = time.monotonic()
    assert (await box.post("slow", await box.mint())).status_code == 200
    assert time.monotonic() - started >= 0.2


# --- login ---------------------------------------------------------------------------------------------------


async def consent(box: Box, **extra: str) -> dict[str, list[str]]:
    params = {"client_id": CLIENT_ID, "redirect_uri": REDIRECT_URI, "state": "s", "scope": "pages_show_list", **extra}
    answer = await box.client.get("/v25.0/dialog/oauth", params=params)
    assert answer.status_code == 302
    return parse_qs(urlsplit(answer.headers["location"]).query)


async def exchange(box: Box, **params: str) -> httpx.Response:
    query = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, **params}
    return await box.client.get("/v25.0/oauth/access_token", params=query)


async def test_a_refused_consent_redirects_with_the_error(box: Box) -> None:
    answer = await consent(box, deny="1")
    assert answer == {
        "error": ["access_denied"],
        "error_code": ["200"],
        "error_description": ["Permissions error"],
        "error_reason": ["user_denied"],
        "state": ["s"],
    }


async def test_an_unknown_app_is_refused_at_the_dialog(box: Box) -> None:
    answer = await box.client.get("/v25.0/dialog/oauth", params={"client_id": "nope", "redirect_uri": REDIRECT_URI})
    assert answer.status_code == 400


async def test_code_exchange_gives_a_short_lived_token_whose_page_tokens_expire_with_it(box: Box) -> None:
    code = (await consent(box))["code"][0]
    short = (await exchange(box, code=code, redirect_uri=REDIRECT_URI)).json()
    assert (short["token_type"], short["expires_in"]) == ("bearer", 3600)
    pages = (await box.client.get("/v25.0/me/accounts", params={"access_token": short["access_token"]})).json()
    assert [p["id"] for p in pages["data"]] == [PAGE_ID, OTHER_PAGE]
    assert "CREATE_CONTENT" in pages["data"][0]["tasks"]
    info = await box.client.get(
        "/v25.0/debug_token", params={"input_token": pages["data"][0]["access_token"], "access_token": APP_TOKEN}
    )
    assert info.json()["data"]["expires_at"] > time.time() + 3000  # tied to the 1 h user token, not "never"


async def test_long_lived_exchange_and_app_credentials(box: Box) -> None:
    code = (await consent(box))["code"][0]
    short = (await exchange(box, code=code, redirect_uri=REDIRECT_URI)).json()["access_token"]
    long = (await exchange(box, grant_type="fb_exchange_token", fb_exchange_token=short)).json()
    assert long["expires_in"] == 60 * 24 * 3600
    assert (await exchange(box, grant_type="client_credentials")).json()["access_token"] == APP_TOKEN
    wrong_secret = await box.client.get(
        "/v25.0/oauth/access_token", params={"client_id": CLIENT_ID, "client_secret": "no", "grant_type": "x"}
    )
    assert error_of(wrong_secret)["code"] == 1
    unknown_app = await box.client.get("/v25.0/oauth/access_token", params={"client_id": "nope"})
    assert error_of(unknown_app)["code"] == 101


async def test_pkce_is_checked_when_the_dialog_got_a_challenge(box: Box) -> None:
    code = (await consent(box, code_challenge="the-verifier", code_challenge_method="plain"))["code"][0]
    refused = await exchange(box, code=code, redirect_uri=REDIRECT_URI, code_verifier="wrong")
    assert error_of(refused)["code"] == 100
    code = (await consent(box, code_challenge="the-verifier", code_challenge_method="plain"))["code"][0]
    accepted = await exchange(box, code=code, redirect_uri=REDIRECT_URI, code_verifier="the-verifier")
    assert accepted.status_code == 200


async def test_me_accounts_pages_and_user_usage_header(box: Box) -> None:
    token = await box.mint(USER_ID)
    first = await box.client.get("/v25.0/me/accounts", params={"access_token": token, "limit": "1", "fields": "id"})
    assert first.json()["data"] == [{"id": PAGE_ID}]
    after = first.json()["paging"]["cursors"]["after"]
    second = await box.client.get(
        "/v25.0/me/accounts", params={"access_token": token, "limit": "1", "fields": "id", "after": after}
    )
    assert second.json()["data"] == [{"id": OTHER_PAGE}]
    assert "next" not in second.json()["paging"]


async def test_debug_token_reports_invalid_tokens(box: Box) -> None:
    token = await box.mint()
    (await box.client.post(f"/_sandbox/accounts/{PAGE_ID}/revoke")).raise_for_status()
    info = await box.client.get("/v25.0/debug_token", params={"input_token": token, "access_token": APP_TOKEN})
    data = info.json()["data"]
    assert data["is_valid"] is False
    assert (data["error"]["code"], data["error"]["subcode"]) == (190, 460)
    bad_app = await box.client.get("/v25.0/debug_token", params={"input_token": token, "access_token": "x|y"})
    assert error_of(bad_app)["code"] == 190


async def test_creates_are_cheap(box: Box) -> None:
    """The sandbox must never be a benchmark's bottleneck: plain dict work per create, no quadratic scans."""
    token = await box.mint()
    started = time.perf_counter()
    for n in range(300):
        assert (await box.post(f"bulk {n}", token)).status_code == 200
    elapsed = time.perf_counter() - started
    assert elapsed < 6, f"300 in-process creates took {elapsed:.2f}s"
