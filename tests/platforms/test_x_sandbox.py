"""X sandbox behaviour the adapter contract does not cover: headers, validation, limits, faults, reads."""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from herald.platforms.base import ErrorClass, PlatformError, PreparedPost
from herald.platforms.x.counting import weighted_length
from herald.sandboxes.x.config import RateLimitRule, XSandboxConfig
from herald.sandboxes.x.problems import API_FAULTS, TOKEN_FAULTS
from herald.sandboxes.x.tco import shorten
from tests.platforms.test_x_support import CLIENT_ID, CLIENT_SECRET, XWorld, x_world
from tests.support.eventually import eventually, immediately

INVALID_REQUEST = "https://api.twitter.com/2/problems/invalid-request"


class Api:
    """Raw HTTP calls to the sandbox as one account."""

    def __init__(self, world: XWorld, token: str, account: str = "") -> None:
        self.world = world
        self.account = account
        self.headers = {"Authorization": f"Bearer {token}"}

    async def tweet(self, body: Any) -> httpx.Response:
        return await self.world.control.post("/2/tweets", json=body, headers=self.headers)

    async def get(self, path: str, **params: Any) -> httpx.Response:
        return await self.world.control.get(path, params=params, headers=self.headers)


@pytest.fixture(scope="module")
async def shared_world() -> AsyncIterator[XWorld]:
    async with x_world() as world:
        yield world


@pytest.fixture
async def world(shared_world: XWorld) -> AsyncIterator[XWorld]:
    """One sandbox for the module (tests use their own accounts); faults never outlive a test."""
    yield shared_world
    (await shared_world.control.delete("/_sandbox/faults")).raise_for_status()


@pytest.fixture
async def api(world: XWorld) -> Api:
    account = f"tester-{uuid.uuid4().hex[:8]}"
    return Api(world, (await world.mint(account))["access_token"], account)


async def user_id(api: Api) -> str:
    me: str = (await api.get("/2/users/me")).json()["data"]["id"]
    return me


async def test_healthz(world: XWorld) -> None:
    assert (await world.control.get("/healthz")).json() == {"status": "ok", "platform": "x"}


async def test_create_answers_201_with_location_and_rate_limit_headers(api: Api) -> None:
    first = await api.tweet({"text": "first"})
    second = await api.tweet({"text": "second"})
    assert first.status_code == 201
    assert first.headers["content-type"] == "application/json; charset=utf-8"
    post_id = first.json()["data"]["id"]
    assert len(post_id) == 19
    assert post_id.isdigit()
    assert first.headers["location"].endswith(f"/2/tweets/{post_id}")
    assert first.headers["api-version"].startswith("2.")
    assert first.headers["x-rate-limit-limit"] == "100"
    assert (first.headers["x-rate-limit-remaining"], second.headers["x-rate-limit-remaining"]) == ("99", "98")
    assert 0 < int(first.headers["x-rate-limit-reset"]) - time.time() <= 901
    assert first.headers["x-app-limit-24hour-limit"] == "10000"
    assert second.headers["x-app-limit-24hour-remaining"] == "9998"
    assert int(second.json()["data"]["id"]) > int(post_id)


async def test_reads_carry_their_own_rate_limit_headers(api: Api) -> None:
    me = await api.get("/2/users/me")
    assert (me.headers["x-rate-limit-limit"], me.headers["x-rate-limit-remaining"]) == ("75", "74")
    timeline = await api.get(f"/2/users/{me.json()['data']['id']}/tweets")
    assert (timeline.headers["x-rate-limit-limit"], timeline.headers["x-rate-limit-remaining"]) == ("900", "899")
    assert timeline.json() == {"meta": {"result_count": 0}}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"text": "hi", "foo": 1}, "$.foo: is not defined in the schema"),
        ({"text": "hi", "reply": {"in_reply_to_tweet_id": "1", "extra": True}}, "$.reply.extra: is not defined"),
        ({"text": 42}, "$.text"),
        ({}, "$.text: is missing"),
        ({"text": ""}, "$.text: is missing"),
        ({"text": "hi", "media": {"media_ids": ["123"]}}, "Your media IDs are invalid."),
        (["not", "an", "object"], "JSON object"),
    ],
)
async def test_create_validates_the_body_like_x(api: Api, body: Any, message: str) -> None:
    answer = await api.tweet(body)
    assert answer.status_code == 400
    problem = answer.json()
    assert problem["type"] == INVALID_REQUEST
    assert problem["title"] == "Invalid Request"
    assert message in problem["errors"][0]["message"]
    assert "x-rate-limit-remaining" in answer.headers


async def test_invalid_json_is_invalid_request(world: XWorld, api: Api) -> None:
    answer = await world.control.post(
        "/2/tweets", content=b"{not json", headers={**api.headers, "content-type": "application/json"}
    )
    assert answer.status_code == 400
    assert answer.json()["type"] == INVALID_REQUEST


async def test_weighted_length_limit(api: Api) -> None:
    assert (await api.tweet({"text": "a" * 280})).status_code == 201
    too_long = await api.tweet({"text": "b" * 281})
    assert too_long.status_code == 403
    assert too_long.json()["detail"] == "Your Tweet text is too long."
    assert (await api.tweet({"text": "日" * 141})).status_code == 403
    url_text = "c" * 256 + " https://example.com/" + "x" * 300  # 256 + 1 + 23 = 280
    assert weighted_length(url_text) == 280
    assert (await api.tweet({"text": url_text})).status_code == 201
    assert (await api.tweet({"text": "bad \uffff char"})).status_code == 400


async def test_premium_accounts_may_post_longer() -> None:
    async with x_world(XSandboxConfig(long_post_accounts=frozenset({"premium"}))) as world:
        api = Api(world, (await world.mint("premium"))["access_token"])
        assert (await api.tweet({"text": "p" * 4000})).status_code == 201


async def test_duplicates_are_per_account_and_forgotten_after_delete(world: XWorld, api: Api) -> None:
    first = await api.tweet({"text": "dup me"})
    duplicate = await api.tweet({"text": "dup me"})
    assert duplicate.status_code == 403
    assert duplicate.json() == {
        "detail": "You are not allowed to create a Tweet with duplicate content.",
        "type": "about:blank",
        "title": "Forbidden",
        "status": 403,
    }
    other = Api(world, (await world.mint("someone-else"))["access_token"])
    assert (await other.tweet({"text": "dup me"})).status_code == 201
    deleted = await world.control.delete(f"/2/tweets/{first.json()['data']['id']}", headers=api.headers)
    assert deleted.json() == {"data": {"deleted": True}}
    assert (await api.tweet({"text": "dup me"})).status_code == 201


async def test_duplicate_window_is_configurable() -> None:
    async with x_world(XSandboxConfig(duplicate_window_seconds=0)) as world:
        api = Api(world, (await world.mint("repeater"))["access_token"])
        await api.tweet({"text": "again"})
        posted_by = dt.datetime.now(dt.UTC)
        # A zero window still refuses a repeat stamped the same instant: let the clock tick past the first post.
        await eventually(immediately(lambda: dt.datetime.now(dt.UTC) > posted_by), what="the clock past the post")
        assert (await api.tweet({"text": "again"})).status_code == 201


async def test_cannot_delete_someone_elses_post(world: XWorld, api: Api) -> None:
    post_id = (await api.tweet({"text": "mine"})).json()["data"]["id"]
    other = Api(world, (await world.mint("intruder"))["access_token"])
    answer = await world.control.delete(f"/2/tweets/{post_id}", headers=other.headers)
    assert answer.status_code == 403


async def test_reply_to_a_missing_post_is_refused(api: Api) -> None:
    answer = await api.tweet({"text": "reply", "reply": {"in_reply_to_tweet_id": "1900000000000009999"}})
    assert answer.status_code == 403
    assert "deleted or not visible" in answer.json()["detail"]


async def test_urls_become_stable_tco_links_and_text_is_html_escaped(api: Api) -> None:
    answer = await api.tweet({"text": "Tom & Jerry <3 https://example.com/a and example.org"})
    text = answer.json()["data"]["text"]
    assert text == (f"Tom &amp; Jerry &lt;3 {shorten('https://example.com/a')} and {shorten('example.org')}")
    assert shorten("https://example.com/a").startswith("https://t.co/")
    assert len(shorten("https://example.com/a")) == len("https://t.co/") + 10
    post_id = answer.json()["data"]["id"]
    looked_up = (await api.get(f"/2/tweets/{post_id}", **{"tweet.fields": "entities,author_id"})).json()["data"]
    assert [u["expanded_url"] for u in looked_up["entities"]["urls"]] == ["https://example.com/a", "http://example.org"]
    assert looked_up["author_id"] == await user_id(api)


async def test_lookup_of_a_missing_post_is_a_200_with_errors(api: Api) -> None:
    answer = await api.get("/2/tweets/1900000000000009999")
    assert answer.status_code == 200
    [error] = answer.json()["errors"]
    assert error["type"] == "https://api.twitter.com/2/problems/resource-not-found"
    assert error["resource_id"] == "1900000000000009999"


async def test_timeline_parameters_are_validated(api: Api) -> None:
    me = await user_id(api)
    zero = await api.get(f"/2/users/{me}/tweets", max_results=0)
    assert zero.status_code == 400
    assert zero.json() == {
        "errors": [
            {
                "parameters": {"max_results": ["0"]},
                "message": "The `max_results` query parameter value [0] is not between 5 and 100",
            }
        ],
        "title": "Invalid Request",
        "detail": "One or more parameters to your request was invalid.",
        "type": INVALID_REQUEST,
    }
    assert (await api.get(f"/2/users/{me}/tweets", bogus="1")).status_code == 400
    assert (await api.get(f"/2/users/{me}/tweets", **{"tweet.fields": "created_at,nonsense"})).status_code == 400
    assert (await api.get(f"/2/users/{me}/tweets", start_time="yesterday")).status_code == 400
    assert (await api.get(f"/2/users/{me}/tweets", pagination_token="!!!")).status_code == 400
    assert (await api.get(f"/2/users/{me}/tweets", exclude="likes")).status_code == 400


async def test_timeline_filters(api: Api) -> None:
    me = await user_id(api)
    first = (await api.tweet({"text": "one"})).json()["data"]["id"]
    second = (await api.tweet({"text": "two", "reply": {"in_reply_to_tweet_id": first}})).json()["data"]["id"]
    third = (await api.tweet({"text": "three"})).json()["data"]["id"]

    async def ids(**params: Any) -> list[str]:
        return [t["id"] for t in (await api.get(f"/2/users/{me}/tweets", **params)).json().get("data", [])]

    assert await ids() == [third, second, first]
    assert await ids(since_id=first) == [third, second]
    assert await ids(until_id=third) == [second, first]
    assert await ids(exclude="replies") == [third, first]
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert await ids(start_time=future) == []
    past = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert await ids(end_time=past) == []


async def test_timeline_of_an_unknown_user(api: Api) -> None:
    answer = await api.get("/2/users/42/tweets")
    assert answer.status_code == 200
    assert answer.json()["errors"][0]["detail"] == "Could not find user with id: [42]."


async def test_scopes_are_enforced_for_tokens_that_have_them(world: XWorld) -> None:
    token = (await world.mint("reader", scopes=["tweet.read", "users.read"]))["access_token"]
    api = Api(world, token)
    assert (await api.get("/2/users/me")).status_code == 200
    answer = await api.tweet({"text": "no write scope"})
    assert answer.status_code == 403
    assert answer.json()["detail"] == "You are not permitted to perform this action."


async def test_app_only_and_missing_tokens(world: XWorld) -> None:
    app_only = await world.control.post(
        "/2/tweets", json={"text": "x"}, headers={"Authorization": "Bearer sandbox-app-only-bearer"}
    )
    assert app_only.status_code == 403
    assert app_only.json()["type"] == "https://api.twitter.com/2/problems/unsupported-authentication"
    anonymous = await world.control.post("/2/tweets", json={"text": "x"})
    assert anonymous.status_code == 401
    assert anonymous.json() == {"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"}


async def test_v1_1_posting_is_closed(world: XWorld, api: Api) -> None:
    answer = await world.control.post("/1.1/statuses/update.json", data={"status": "hi"}, headers=api.headers)
    assert answer.status_code == 403
    assert answer.json()["errors"][0]["code"] == 453


async def test_enforced_rate_limit_and_switch() -> None:
    rules = {"tweets.create": RateLimitRule(limit=1, window_seconds=60)}
    async with x_world(XSandboxConfig(rate_limits=rules)) as world:
        api = Api(world, (await world.mint("busy"))["access_token"])
        assert (await api.tweet({"text": "1"})).status_code == 201
        limited = await api.tweet({"text": "2"})
        assert limited.status_code == 429
        assert limited.headers["x-rate-limit-remaining"] == "0"
        assert limited.json()["title"] == "Too Many Requests"
    async with x_world(XSandboxConfig(rate_limits=rules, enforce_rate_limits=False)) as world:
        api = Api(world, (await world.mint("busy"))["access_token"])
        assert [(await api.tweet({"text": str(i)})).status_code for i in range(3)] == [201, 201, 201]


@pytest.mark.parametrize("name", sorted(API_FAULTS))
async def test_every_api_fault_name_answers_its_x_error(world: XWorld, api: Api, name: str) -> None:
    await world.arm(kind="error", error=name, account=api.account)
    status, body = API_FAULTS[name]
    answer = await api.tweet({"text": f"fault {name}"})
    assert (answer.status_code, answer.json()) == (status, body)
    if status == 429:
        assert int(answer.headers["x-rate-limit-reset"]) > time.time()
    assert (await api.tweet({"text": f"fault {name}"})).status_code == 201  # count=1: consumed


@pytest.mark.parametrize("name", sorted(TOKEN_FAULTS))
async def test_every_token_fault_name_answers_its_x_error(world: XWorld, name: str) -> None:
    minted = await world.mint("token-tester")
    await world.arm(kind="error", error=name, operation="token", account=None)
    form = {"grant_type": "refresh_token", "refresh_token": minted["refresh_token"]}
    answer = await world.control.post("/2/oauth2/token", data=form, auth=(CLIENT_ID, CLIENT_SECRET))
    assert (answer.status_code, answer.json()) == TOKEN_FAULTS[name]


async def test_unknown_fault_name_is_named_in_the_answer(world: XWorld, api: Api) -> None:
    await world.arm(kind="error", error="no_such_error")
    answer = await api.tweet({"text": "x"})
    assert answer.status_code == 500
    assert "no_such_error" in answer.json()["detail"]


async def test_create_requests_are_counted_even_when_faulted(world: XWorld, api: Api) -> None:
    await world.arm(kind="error", error="server_error", account=api.account)
    await api.tweet({"text": "a"})
    await api.tweet({"text": "b"})
    stats = (await world.control.get("/_sandbox/stats")).json()
    assert stats["create_requests"][api.account] == 2
    assert stats["posts"][api.account] == 1


async def test_latency_fault_delays_the_answer(world: XWorld, api: Api) -> None:
    await world.arm(kind="latency", latency_ms=300, account=api.account)
    started = time.monotonic()
    assert (await api.tweet({"text": "slow"})).status_code == 201
    assert time.monotonic() - started >= 0.3


async def test_read_faults_apply_to_reads_only(world: XWorld, api: Api) -> None:
    await world.arm(kind="error", error="service_unavailable", operation="read", account=api.account)
    assert (await api.tweet({"text": "writes still work"})).status_code == 201
    assert (await api.get("/2/users/me")).status_code == 503
    assert (await api.get("/2/users/me")).status_code == 200


async def test_rate_limit_fault_until_then_clears(world: XWorld, api: Api) -> None:
    until = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
    await world.arm(kind="rate_limit", until=until.isoformat(), account=api.account)
    limited = await api.tweet({"text": "limited"})
    assert limited.status_code == 429
    assert limited.headers["x-rate-limit-reset"] == str(math.ceil(until.timestamp()))  # never before `until`

    async def accepted() -> bool:
        return (await api.tweet({"text": "limited"})).status_code == 201

    await eventually(accepted, interval=0.1, what="the rate-limit fault cleared")
    assert dt.datetime.now(dt.UTC) >= until  # cleared, but not before `until`


async def test_sandbox_serves_requests_quickly(api: Api) -> None:
    """It must never be the bottleneck of a benchmark: 200 creates in well under a few seconds."""
    started = time.monotonic()
    answers = await asyncio.gather(*(api.tweet({"text": f"bench {i} https://example.com/{i}"}) for i in range(100)))
    elapsed = time.monotonic() - started
    assert [a.status_code for a in answers] == [201] * 100
    assert elapsed < 5


async def test_reset_forgets_posts_and_rate_limit_windows() -> None:
    rules = {"tweets.create": RateLimitRule(limit=1, window_seconds=900)}
    async with x_world(XSandboxConfig(rate_limits=rules)) as world:
        api = Api(world, (await world.mint("resetter"))["access_token"])
        assert (await api.tweet({"text": "before"})).status_code == 201
        assert (await api.tweet({"text": "blocked"})).status_code == 429
        assert (await world.control.post("/_sandbox/reset")).status_code == 204
        assert (await world.control.get("/_sandbox/posts")).json() == []
        assert (await api.tweet({"text": "before"})).status_code == 201  # token still valid, no duplicate left


async def test_spent_daily_app_budget_points_the_client_at_the_24_hour_reset() -> None:
    rules = {"tweets.create.app24h": RateLimitRule(limit=1, window_seconds=86_400)}
    async with x_world(XSandboxConfig(rate_limits=rules)) as world:
        token = (await world.mint("daily"))["access_token"]
        api = Api(world, token)
        assert (await api.tweet({"text": "first"})).status_code == 201
        limited = await api.tweet({"text": "second"})
        assert limited.status_code == 429
        assert limited.headers["x-app-limit-24hour-remaining"] == "0"
        assert int(limited.headers["x-rate-limit-remaining"]) > 0
        account = await world.account(token)
        with pytest.raises(PlatformError) as caught:
            await world.kit.client.publish(account, token, PreparedPost(parts=("third",)))
        assert caught.value.error_class is ErrorClass.RETRY_LATER
        assert caught.value.retry_at is not None
        assert caught.value.retry_at - dt.datetime.now(dt.UTC) > dt.timedelta(hours=23)
