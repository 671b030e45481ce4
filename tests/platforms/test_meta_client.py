"""The Meta client's requests and read-back, against a scripted transport (and the sandbox for link read-back)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from herald.platforms.base import Account, Draft, ErrorClass, PlatformError, PlatformKit, PreparedPost
from herald.platforms.meta import build
from tests.platforms.test_meta_support import CLIENT_SECRET, PAGE_ID, sandbox_settings, served_sandbox

TOKEN = "EAAHpage-token"
SINCE = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)
Responder = Callable[[httpx.Request], httpx.Response]


def kit_with(responder: Responder, **settings: Any) -> tuple[PlatformKit, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return responder(request)

    http = httpx.AsyncClient(transport=httpx.MockTransport(record))
    return build(sandbox_settings("https://graph.test", **settings), http), seen


def post_of(text: str, link: str | None = None) -> PreparedPost:
    return PreparedPost(parts=(text,), link=link)


async def test_publish_sends_form_with_token_and_proof_in_the_body() -> None:
    kit, seen = kit_with(lambda r: httpx.Response(200, json={"id": f"{PAGE_ID}_42"}))
    published = await kit.client.publish(Account(PAGE_ID), TOKEN, post_of("Hello", "https://example.com/a"))
    assert published.post_id == f"{PAGE_ID}_42"
    assert published.url == f"https://www.facebook.com/{PAGE_ID}_42"
    request = seen[0]
    assert (request.method, request.url.path, request.url.query) == ("POST", f"/v25.0/{PAGE_ID}/feed", b"")
    form = parse_qs(request.content.decode())
    proof = hmac.new(CLIENT_SECRET.encode(), TOKEN.encode(), hashlib.sha256).hexdigest()
    assert form == {
        "message": ["Hello"],
        "link": ["https://example.com/a"],
        "access_token": [TOKEN],
        "appsecret_proof": [proof],
    }


async def test_proof_can_be_switched_off_and_page_ids_are_quoted() -> None:
    kit, seen = kit_with(lambda r: httpx.Response(200, json={"id": "1_2"}), appsecret_proof=False)
    await kit.client.publish(Account("a/b"), TOKEN, post_of("Hi"))
    assert seen[0].url.raw_path == b"/v25.0/a%2Fb/feed"
    assert "appsecret_proof" not in parse_qs(seen[0].content.decode())


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(200, json={"success": True}),
        httpx.Response(200, text="<html>ok</html>"),
        httpx.Response(200, json=["unexpected"]),
    ],
    ids=["no-id", "not-json", "not-an-object"],
)
async def test_a_2xx_create_without_an_id_is_an_unknown_outcome(answer: httpx.Response) -> None:
    kit, _ = kit_with(lambda r: answer)
    with pytest.raises(PlatformError) as caught:
        await kit.client.publish(Account(PAGE_ID), TOKEN, post_of("Hi"))
    assert caught.value.error_class is ErrorClass.UNKNOWN_OUTCOME


async def test_an_error_body_on_200_is_still_an_error() -> None:
    body = {"error": {"message": "(#506) Duplicate status message", "type": "OAuthException", "code": 506}}
    kit, _ = kit_with(lambda r: httpx.Response(200, json=body))
    with pytest.raises(PlatformError) as caught:
        await kit.client.publish(Account(PAGE_ID), TOKEN, post_of("Hi"))
    assert caught.value.error_class is ErrorClass.DUPLICATE


async def test_read_back_follows_paging_on_its_own_host_and_matches_normalised_text() -> None:
    def respond(request: httpx.Request) -> httpx.Response:
        if "after" not in request.url.params:
            return httpx.Response(
                200,
                json={
                    "data": [
                        {"id": f"{PAGE_ID}_9", "message": "Something else", "created_time": "2026-11-28T12:01:00+0000"}
                    ],
                    "paging": {
                        "cursors": {"after": "QUZURVI="},
                        "next": "https://elsewhere.example/v25.0/1/published_posts?access_token=THEIRS&after=QUZURVI%3D"
                        "&limit=100&fields=id,message,created_time",
                    },
                },
            )
        return httpx.Response(
            200,
            json={
                "data": [
                    {"id": f"{PAGE_ID}_8", "message": "Hello\r\n  world ", "created_time": "2026-11-28T12:00:30+0000"}
                ]
            },
        )

    kit, seen = kit_with(respond)
    found = await kit.client.find_published(Account(PAGE_ID), TOKEN, post_of("Hello world"), SINCE)
    assert found is not None
    assert found.post_id == f"{PAGE_ID}_8"
    assert found.published_at == dt.datetime(2026, 11, 28, 12, 0, 30, tzinfo=dt.UTC)
    assert [r.url.host for r in seen] == ["graph.test", "graph.test"]
    first, second = (dict(r.url.params) for r in seen)
    assert first["since"] == str(int(SINCE.timestamp()) - 60)
    assert first["fields"] == "id,message,created_time"
    assert (second["after"], second["access_token"]) == ("QUZURVI=", TOKEN)


async def test_read_back_returns_none_when_the_list_ends() -> None:
    kit, seen = kit_with(lambda r: httpx.Response(200, json={"data": []}))
    assert await kit.client.find_published(Account(PAGE_ID), TOKEN, post_of("Nope"), SINCE) is None
    assert len(seen) == 1


async def test_read_back_gives_up_after_the_page_budget() -> None:
    endless = {"data": [{"id": "1_1", "message": "other"}], "paging": {"next": "https://graph.test/x?after=abc"}}
    kit, seen = kit_with(lambda r: httpx.Response(200, json=endless), read_back_pages=3)
    with pytest.raises(PlatformError) as caught:
        await kit.client.find_published(Account(PAGE_ID), TOKEN, post_of("Nope"), SINCE)
    assert caught.value.error_class is ErrorClass.RETRY_LATER
    assert len(seen) == 3


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (
            httpx.Response(500, json={"error": {"message": "x", "type": "OAuthException", "code": 2}}),
            ErrorClass.RETRY_LATER,
        ),
        (
            httpx.Response(400, json={"error": {"message": "x", "type": "OAuthException", "code": 190}}),
            ErrorClass.RECONNECT,
        ),
        (httpx.Response(200, json={"unexpected": True}), ErrorClass.RETRY_LATER),
    ],
    ids=["5xx", "190", "no-data"],
)
async def test_read_back_raises_when_it_cannot_tell(answer: httpx.Response, expected: ErrorClass) -> None:
    kit, _ = kit_with(lambda r: answer)
    with pytest.raises(PlatformError) as caught:
        await kit.client.find_published(Account(PAGE_ID), TOKEN, post_of("Hi"), SINCE)
    assert caught.value.error_class is expected
    assert TOKEN not in caught.value.response_excerpt + str(caught.value)


async def test_a_link_post_is_found_by_its_message_on_the_sandbox() -> None:
    async with served_sandbox() as served, httpx.AsyncClient() as http:
        kit = build(sandbox_settings(served.base_url), http)
        token = await served.mint(PAGE_ID)
        since = dt.datetime.now(dt.UTC)
        post = kit.rules.prepare(Draft(text="A link  post\n", link="https://example.com/read"))
        published = await kit.client.publish(Account(PAGE_ID), token, post)
        found = await kit.client.find_published(Account(PAGE_ID), token, post, since)
        assert found is not None
        assert found.post_id == published.post_id
        assert found.published_at is not None
