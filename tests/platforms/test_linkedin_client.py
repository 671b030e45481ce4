"""The LinkedIn client beyond the shared contract: request shape, organization authors, read-back without
``r_member_social``, paging, and failures the contract does not provoke."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from herald.platforms.base import Account, Draft, ErrorClass, PlatformError, PlatformKit
from herald.platforms.linkedin import build
from herald.sandboxes.linkedin.app import create_app
from tests.platforms.test_linkedin_support import (
    BASE_SCOPES,
    MEMBER,
    MEMBER_URN,
    ORGANIZATION_SCOPES,
    ORGANIZATION_URN,
    READ_BACK_SCOPES,
    mint,
    sandbox_settings,
)
from tests.support.servers import closed_port, serve

MEMBER_ACCOUNT = Account(MEMBER_URN)
ORGANIZATION_ACCOUNT = Account(ORGANIZATION_URN)


@pytest.fixture(scope="module")
def sandbox_url() -> Iterator[str]:
    with serve(create_app()) as url:
        yield url


@pytest.fixture
async def control(sandbox_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sandbox_url) as client:
        (await client.post("/_sandbox/reset")).raise_for_status()
        yield client


@pytest.fixture
async def kit(sandbox_url: str) -> AsyncIterator[PlatformKit]:
    async with httpx.AsyncClient() as http:
        yield build(sandbox_settings(sandbox_url), http)


def since_a_minute_ago() -> dt.datetime:
    return dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)


class Recorder:
    """A fake LinkedIn answering every call with one canned response, remembering the requests."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.response


async def publish_with(recorder: Recorder, draft: Draft, **settings: Any) -> Any:
    async with httpx.AsyncClient(transport=httpx.MockTransport(recorder)) as http:
        kit = build(sandbox_settings("https://api.linkedin.com", **settings), http)
        return await kit.client.publish(MEMBER_ACCOUNT, "tok-123", kit.rules.prepare(draft))


async def test_create_request_is_the_documented_one() -> None:
    recorder = Recorder(httpx.Response(201, headers={"x-restli-id": "urn:li:share:6844785523593134080"}))
    published = await publish_with(recorder, Draft(text="Hello (world)"), timeout=3.5)
    request = recorder.requests[0]
    assert (request.method, str(request.url)) == ("POST", "https://api.linkedin.com/rest/posts")
    assert request.headers["Authorization"] == "Bearer tok-123"
    assert request.headers["LinkedIn-Version"] == "202607"
    assert request.headers["X-Restli-Protocol-Version"] == "2.0.0"
    assert request.headers["Content-Type"] == "application/json"
    assert request.extensions["timeout"]["read"] == 3.5
    assert json.loads(request.content) == {
        "author": MEMBER_URN,
        "commentary": "Hello \\(world\\)",
        "visibility": "PUBLIC",
        "distribution": {"feedDistribution": "MAIN_FEED", "targetEntities": [], "thirdPartyDistributionChannels": []},
        "lifecycleState": "PUBLISHED",
        "isReshareDisabledByAuthor": False,
    }
    assert published.post_id == "urn:li:share:6844785523593134080"
    assert published.url == "https://www.linkedin.com/feed/update/urn:li:share:6844785523593134080"
    assert published.published_at is not None


async def test_a_link_post_is_an_article() -> None:
    recorder = Recorder(httpx.Response(201, headers={"x-restli-id": "urn:li:share:1"}))
    await publish_with(recorder, Draft(text="Read this", link="https://example.com/blog/post-1/"))
    body = json.loads(recorder.requests[0].content)
    assert body["commentary"] == "Read this"
    assert body["content"] == {
        "article": {"source": "https://example.com/blog/post-1/", "title": "example.com/blog/post-1"}
    }


async def test_the_id_comes_from_the_header_never_the_body() -> None:
    answer = httpx.Response(201, headers={"x-restli-id": "urn:li:ugcPost:68447855235931240"}, json={"id": "nope"})
    published = await publish_with(Recorder(answer), Draft(text="x"))
    assert published.post_id == "urn:li:ugcPost:68447855235931240"


async def test_an_accepted_post_without_an_id_is_an_unknown_outcome() -> None:
    with pytest.raises(PlatformError) as caught:
        await publish_with(Recorder(httpx.Response(201)), Draft(text="x"))
    assert caught.value.error_class is ErrorClass.UNKNOWN_OUTCOME
    assert caught.value.http_status == 201


async def test_the_shared_http_client_is_the_only_one(
    kit: PlatformKit, control: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    tokens = await mint(control, READ_BACK_SCOPES)
    post = kit.rules.prepare(Draft(text="One client only"))

    def no_new_clients(*args: object, **kwargs: object) -> None:
        raise AssertionError("a new httpx.AsyncClient was created")

    monkeypatch.setattr(httpx.AsyncClient, "__init__", no_new_clients)
    await kit.client.publish(MEMBER_ACCOUNT, tokens["access_token"], post)
    assert await kit.client.find_published(MEMBER_ACCOUNT, tokens["access_token"], post, since_a_minute_ago())
    assert await kit.oauth.identities(tokens["access_token"])


async def test_an_organization_posts_and_reads_back(kit: PlatformKit, control: httpx.AsyncClient) -> None:
    tokens = await mint(control, ORGANIZATION_SCOPES)
    post = kit.rules.prepare(Draft(text="From the Page [beta] @ 5pm", link="https://example.com/page"))
    since = since_a_minute_ago()
    published = await kit.client.publish(ORGANIZATION_ACCOUNT, tokens["access_token"], post)
    found = await kit.client.find_published(ORGANIZATION_ACCOUNT, tokens["access_token"], post, since)
    assert found is not None
    assert found.post_id == published.post_id
    stored = (await control.get("/_sandbox/posts", params={"account": ORGANIZATION_URN})).json()
    assert [(p["id"], p["author"], p["rendered"]) for p in stored] == [
        (published.post_id, ORGANIZATION_URN, "From the Page [beta] @ 5pm")
    ]


async def test_member_posts_cannot_be_read_back_without_r_member_social_but_the_duplicate_names_them(
    kit: PlatformKit, control: httpx.AsyncClient
) -> None:
    tokens = await mint(control, BASE_SCOPES)
    post = kit.rules.prepare(Draft(text="Posted, but did it work? (maybe)"))
    await control.post("/_sandbox/faults", json={"kind": "accept_then_fail", "account": MEMBER, "mode": "503"})
    with pytest.raises(PlatformError) as unknown:
        await kit.client.publish(MEMBER_ACCOUNT, tokens["access_token"], post)
    assert unknown.value.error_class is ErrorClass.UNKNOWN_OUTCOME

    with pytest.raises(PlatformError) as unreadable:
        await kit.client.find_published(MEMBER_ACCOUNT, tokens["access_token"], post, since_a_minute_ago())
    assert unreadable.value.error_class is ErrorClass.UNKNOWN_OUTCOME
    assert "r_member_social" in unreadable.value.message
    assert unreadable.value.http_status == 403

    # Reconciliation without r_member_social: send the identical commentary again (docs/platforms.md,
    # "LinkedIn: read-back").
    with pytest.raises(PlatformError) as duplicate:
        await kit.client.publish(MEMBER_ACCOUNT, tokens["access_token"], post)
    stored = (await control.get("/_sandbox/posts", params={"account": MEMBER})).json()
    assert duplicate.value.error_class is ErrorClass.DUPLICATE
    assert duplicate.value.existing_post_id == stored[0]["id"]
    assert len(stored) == 1


async def test_posting_as_someone_else_is_permanent(kit: PlatformKit, control: httpx.AsyncClient) -> None:
    tokens = await mint(control, BASE_SCOPES)
    for author in ("urn:li:person:somebody-else", ORGANIZATION_URN):  # no w_organization_social either
        with pytest.raises(PlatformError) as caught:
            await kit.client.publish(Account(author), tokens["access_token"], kit.rules.prepare(Draft(text="x")))
        assert caught.value.error_class is ErrorClass.PERMANENT
        assert caught.value.platform_code == "ACCESS_DENIED"


async def test_a_page_the_member_has_no_role_on_is_refused(kit: PlatformKit, control: httpx.AsyncClient) -> None:
    tokens = await mint(control, ORGANIZATION_SCOPES, account="outsider")
    with pytest.raises(PlatformError) as caught:
        await kit.client.publish(ORGANIZATION_ACCOUNT, tokens["access_token"], kit.rules.prepare(Draft(text="x")))
    assert caught.value.http_status == 403


async def test_read_back_pages_until_since(sandbox_url: str, control: httpx.AsyncClient) -> None:
    tokens = await mint(control, READ_BACK_SCOPES)
    since = since_a_minute_ago()
    async with httpx.AsyncClient() as http:
        kit = build(sandbox_settings(sandbox_url, readback_page_size=2, readback_max_pages=5), http)
        posts = [kit.rules.prepare(Draft(text=f"Post number {n} #{n}")) for n in range(7)]
        ids = [(await kit.client.publish(MEMBER_ACCOUNT, tokens["access_token"], p)).post_id for p in posts]
        found = await kit.client.find_published(MEMBER_ACCOUNT, tokens["access_token"], posts[0], since)
        assert found is not None
        assert found.post_id == ids[0]
        missing = kit.rules.prepare(Draft(text="never posted"))
        assert await kit.client.find_published(MEMBER_ACCOUNT, tokens["access_token"], missing, since) is None
        later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
        assert await kit.client.find_published(MEMBER_ACCOUNT, tokens["access_token"], posts[0], later) is None


async def test_read_back_that_cannot_reach_since_cannot_tell(sandbox_url: str, control: httpx.AsyncClient) -> None:
    tokens = await mint(control, READ_BACK_SCOPES)
    async with httpx.AsyncClient() as http:
        kit = build(sandbox_settings(sandbox_url, readback_page_size=1, readback_max_pages=2), http)
        for n in range(3):
            await kit.client.publish(MEMBER_ACCOUNT, tokens["access_token"], kit.rules.prepare(Draft(text=f"n{n}")))
        missing = kit.rules.prepare(Draft(text="never posted"))
        with pytest.raises(PlatformError) as caught:
            await kit.client.find_published(MEMBER_ACCOUNT, tokens["access_token"], missing, since_a_minute_ago())
    assert caught.value.error_class is ErrorClass.UNKNOWN_OUTCOME


async def test_read_back_outage_is_retry_later(kit: PlatformKit, control: httpx.AsyncClient) -> None:
    tokens = await mint(control, READ_BACK_SCOPES)
    await control.post("/_sandbox/faults", json={"kind": "error", "operation": "read", "error": "service_unavailable"})
    post = kit.rules.prepare(Draft(text="x"))
    with pytest.raises(PlatformError) as caught:
        await kit.client.find_published(MEMBER_ACCOUNT, tokens["access_token"], post, since_a_minute_ago())
    assert caught.value.error_class is ErrorClass.RETRY_LATER
    assert caught.value.http_status == 503


async def test_read_back_with_an_expired_token_asks_for_a_refresh(kit: PlatformKit, control: httpx.AsyncClient) -> None:
    tokens = await mint(control, READ_BACK_SCOPES)
    await control.post(f"/_sandbox/accounts/{MEMBER}/expire")
    with pytest.raises(PlatformError) as caught:
        await kit.client.find_published(
            MEMBER_ACCOUNT, tokens["access_token"], kit.rules.prepare(Draft(text="x")), since_a_minute_ago()
        )
    assert caught.value.error_class is ErrorClass.REFRESH_TOKEN


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        ("rate_limited", ErrorClass.RETRY_LATER),
        ("gateway_timeout", ErrorClass.UNKNOWN_OUTCOME),
        ("invalid_token", ErrorClass.REFRESH_TOKEN),
        ("access_denied", ErrorClass.PERMANENT),
        ("validation_error", ErrorClass.PERMANENT),
        ("version_missing", ErrorClass.CONFIGURATION),  # Herald's LinkedIn-Version setting: an operator error
        ("nonexistent_version", ErrorClass.CONFIGURATION),
        ("duplicate", ErrorClass.DUPLICATE),
    ],
)
async def test_sandbox_fault_answers_classify_as_documented(
    kit: PlatformKit, control: httpx.AsyncClient, error: str, expected: ErrorClass
) -> None:
    tokens = await mint(control, READ_BACK_SCOPES)
    await control.post("/_sandbox/faults", json={"kind": "error", "account": MEMBER, "error": error})
    with pytest.raises(PlatformError) as caught:
        await kit.client.publish(MEMBER_ACCOUNT, tokens["access_token"], kit.rules.prepare(Draft(text="x")))
    assert caught.value.error_class is expected
    assert tokens["access_token"] not in caught.value.message + caught.value.response_excerpt


async def test_an_unreachable_linkedin_is_retry_later() -> None:
    async with httpx.AsyncClient() as http:
        with closed_port() as port:
            kit = build(sandbox_settings(f"http://127.0.0.1:{port}"), http)
            with pytest.raises(PlatformError) as caught:
                await kit.client.publish(MEMBER_ACCOUNT, "tok", kit.rules.prepare(Draft(text="x")))
    assert caught.value.error_class is ErrorClass.RETRY_LATER
