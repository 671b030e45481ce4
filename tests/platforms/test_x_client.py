"""The X client beyond the contract: threads, read-back matching of X's rewrites, pagination, odd answers."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from herald.platforms.base import Account, Draft, ErrorClass, OverLengthPolicy, PlatformError, PreparedPost
from herald.platforms.x import XClient, XSettings
from herald.platforms.x.matching import same_post
from herald.sandboxes.faults import Fault, FaultKind
from herald.sandboxes.x.config import XSandboxConfig
from tests.platforms.test_x_support import XWorld, x_world

LONG = " ".join(f"Sentence {i} of a long announcement that needs a thread." for i in range(20))


@pytest.fixture
async def world() -> AsyncIterator[XWorld]:
    async with x_world(XSandboxConfig(enforce_rate_limits=False)) as world:
        yield world


async def session(world: XWorld, account: str) -> tuple[Account, str]:
    token: str = (await world.mint(account))["access_token"]
    return await world.account(token), token


def since() -> dt.datetime:
    return dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)


async def test_thread_is_posted_as_a_reply_chain(world: XWorld) -> None:
    account, token = await session(world, "threader")
    post = world.kit.rules.prepare(Draft(text=LONG, over_length=OverLengthPolicy.THREAD))
    assert len(post.parts) >= 3
    published = await world.kit.client.publish(account, token, post)
    assert published.thread_ids[0] == published.post_id
    assert len(published.thread_ids) == len(post.parts)
    stored = {p["id"]: p for p in (await world.control.get("/_sandbox/posts", params={"account": "threader"})).json()}
    for parent, child in zip(published.thread_ids, published.thread_ids[1:], strict=False):
        assert stored[child]["in_reply_to_tweet_id"] == parent
        assert stored[child]["conversation_id"] == published.post_id
    found = await world.kit.client.find_published(account, token, post, since())
    assert found is not None
    assert (found.post_id, found.thread_ids) == (published.post_id, published.thread_ids)


async def test_failed_later_part_is_an_unknown_outcome_and_read_back_reports_what_exists(world: XWorld) -> None:
    account, token = await session(world, "half-thread")
    faults = world.sandbox.state.faults
    faults.arm(Fault(kind=FaultKind.LATENCY, account="half-thread"))  # consumed by part 1, which succeeds
    faults.arm(Fault(kind=FaultKind.ERROR, error="service_unavailable", account="half-thread"))  # part 2 fails
    post = world.kit.rules.prepare(Draft(text=LONG, over_length=OverLengthPolicy.THREAD))
    with pytest.raises(PlatformError) as caught:
        await world.kit.client.publish(account, token, post)
    assert caught.value.error_class is ErrorClass.UNKNOWN_OUTCOME
    assert f"1 of {len(post.parts)} parts" in caught.value.message
    found = await world.kit.client.find_published(account, token, post, since())
    assert found is not None
    assert len(found.thread_ids) == 1


async def test_read_back_matches_tco_links_and_escaped_entities(world: XWorld) -> None:
    account, token = await session(world, "linker")
    post = world.kit.rules.prepare(
        Draft(text="Tom & Jerry <3 > see example.org and", link="https://example.com/deep/path?q=1")
    )
    published = await world.kit.client.publish(account, token, post)
    found = await world.kit.client.find_published(account, token, post, since())
    assert found is not None
    assert found.post_id == published.post_id
    assert found.url == f"https://x.com/i/web/status/{published.post_id}"
    assert found.published_at is not None
    other = world.kit.rules.prepare(Draft(text="Tom & Jerry <3 > see example.org and"))  # no link: different post
    assert await world.kit.client.find_published(account, token, other, since()) is None


def test_matching_rules() -> None:
    assert same_post("a https://example.com/x b", "a https://t.co/AbCdEfGhIj b")
    assert same_post("Fish & chips <b>", "Fish &amp; chips &lt;b&gt;")
    assert same_post("literal &amp; stays", "literal &amp;amp; stays")
    assert same_post("café  line\nbreak", "cafe\u0301 line break")
    assert not same_post("a https://example.com/x b", "a https://t.co/AbCdEfGhIj c")
    assert not same_post("one", "one two")


async def test_read_back_pages_through_the_timeline(world: XWorld) -> None:
    account, token = await session(world, "prolific")
    target = PreparedPost(parts=("the very first post",))
    started = since()
    await world.kit.client.publish(account, token, target)
    for i in range(130):
        await world.kit.client.publish(account, token, PreparedPost(parts=(f"filler {i}",)))
    found = await world.kit.client.find_published(account, token, target, started)
    assert found is not None
    shallow = XClient(world.settings.model_copy(update={"read_back_max_pages": 1}), world.http)
    with pytest.raises(PlatformError) as caught:
        await shallow.find_published(account, token, target, started)
    assert caught.value.error_class is ErrorClass.RETRY_LATER


async def test_read_back_failure_is_not_a_not_found(world: XWorld) -> None:
    account, token = await session(world, "reader")
    await world.arm(kind="error", error="server_error", operation="read", account="reader")
    post = PreparedPost(parts=("anything",))
    with pytest.raises(PlatformError) as caught:
        await world.kit.client.find_published(account, token, post, since())
    assert caught.value.error_class is ErrorClass.RETRY_LATER
    assert caught.value.http_status == 500


async def test_missing_write_scope_means_reconnect(world: XWorld) -> None:
    token = (await world.mint("read-only", scopes=["tweet.read", "users.read"]))["access_token"]
    account = await world.account(token)
    with pytest.raises(PlatformError) as caught:
        await world.kit.client.publish(account, token, PreparedPost(parts=("hello",)))
    assert caught.value.error_class is ErrorClass.RECONNECT


async def test_unreachable_x_is_retry_later_not_unknown(world: XWorld) -> None:
    settings = XSettings.for_sandbox("http://127.0.0.1:9", client_id="c", client_secret="s")
    with pytest.raises(PlatformError) as caught:
        await XClient(settings, world.http).publish(Account("1"), "token", PreparedPost(parts=("hi",)))
    assert caught.value.error_class is ErrorClass.RETRY_LATER


def mocked(handler: Callable[[httpx.Request], httpx.Response]) -> XClient:
    settings = XSettings.for_sandbox("https://x.test", client_id="c", client_secret="s")
    return XClient(settings, httpx.AsyncClient(transport=httpx.MockTransport(handler)))


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (201, {}, ErrorClass.UNKNOWN_OUTCOME),
        (201, {"data": {"id": "not-a-number"}}, ErrorClass.UNKNOWN_OUTCOME),
        (200, {"errors": [{"message": "Something failed"}]}, ErrorClass.PERMANENT),
    ],
)
async def test_create_answers_without_an_id(status: int, body: dict[str, object], expected: ErrorClass) -> None:
    client = mocked(lambda request: httpx.Response(status, json=body))
    with pytest.raises(PlatformError) as caught:
        await client.publish(Account("1"), "token", PreparedPost(parts=("hi",)))
    assert caught.value.error_class is expected


async def test_create_request_is_xs_shape_and_uses_the_shared_client() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json={"data": {"id": str(1000 + len(seen)), "text": "t"}})

    client = mocked(handler)
    http = client.http
    post = PreparedPost(parts=("part one (1/2)", "part two (2/2)"))
    published = await client.publish(Account("1"), "tok", post)
    assert client.http is http
    assert [r.url.path for r in seen] == ["/2/tweets", "/2/tweets"]
    assert all(r.headers["authorization"] == "Bearer tok" for r in seen)
    assert json.loads(seen[0].content) == {"text": "part one (1/2)"}
    assert json.loads(seen[1].content) == {"text": "part two (2/2)", "reply": {"in_reply_to_tweet_id": "1001"}}
    assert published.thread_ids == ("1001", "1002")


async def test_timeline_answer_without_meta_cannot_prove_absence() -> None:
    client = mocked(lambda request: httpx.Response(200, json={"errors": [{"detail": "Could not find user"}]}))
    with pytest.raises(PlatformError) as caught:
        await client.find_published(Account("1"), "tok", PreparedPost(parts=("x",)), since())
    assert caught.value.error_class is ErrorClass.RETRY_LATER
