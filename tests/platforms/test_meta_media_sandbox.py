"""The Meta sandbox's media endpoints on their own: who may call them, what they refuse, how containers age."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from herald.sandboxes.meta.config import MetaSandboxConfig
from tests.platforms.test_meta_support import IG_USER_ID, PAGE_ID, Served, served_sandbox
from tests.support.media import FakeMediaSource, served_media

SECOND_PAGE_ID = "100000000000002"
JPEG = b"\xff\xd8\xff\xe0" + bytes(100)
MP4 = b"\x00\x00\x00\x18ftypmp42" + bytes(100)


@pytest.fixture
def source() -> Iterator[FakeMediaSource]:
    with served_media(FakeMediaSource()) as served:
        yield served


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    config = MetaSandboxConfig(container_delay=dt.timedelta(milliseconds=20))
    async with served_sandbox(config) as box:
        yield box


def url(source: FakeMediaSource, data: bytes = JPEG) -> str:
    return source.presigned_url(source.add(data), expires_in_seconds=60)


async def graph(served: Served, method: str, path: str, token: str, **params: str) -> httpx.Response:
    if method == "GET":
        return await served.control.get(f"/v25.0/{path}", params={**params, "access_token": token})
    return await served.control.post(f"/v25.0/{path}", data={**params, "access_token": token})


def error_of(response: httpx.Response) -> tuple[int, Any]:
    error = response.json()["error"]
    return error["code"], error.get("error_subcode")


async def finished(served: Served, container: str, token: str) -> dict[str, Any]:
    for _ in range(200):
        body: dict[str, Any] = (await graph(served, "GET", container, token, fields="status_code,status")).json()
        if body["status_code"] != "IN_PROGRESS":
            return body
        await asyncio.sleep(0.01)
    raise AssertionError("the container never left IN_PROGRESS")


async def test_the_page_names_its_instagram_account_and_a_page_without_one_does_not(served: Served) -> None:
    fields = "id,name,instagram_business_account{id,username}"
    linked = (await graph(served, "GET", PAGE_ID, await served.mint(PAGE_ID), fields=fields)).json()
    assert linked["instagram_business_account"] == {"id": IG_USER_ID, "username": "herald.sandbox"}
    alone = (await graph(served, "GET", SECOND_PAGE_ID, await served.mint(SECOND_PAGE_ID), fields=fields)).json()
    assert "instagram_business_account" not in alone
    assert alone["id"] == SECOND_PAGE_ID


async def test_only_the_linked_pages_token_with_the_publish_scope_may_create_containers(
    served: Served, source: FakeMediaSource
) -> None:
    other = await graph(served, "POST", f"{IG_USER_ID}/media", await served.mint(SECOND_PAGE_ID), image_url=url(source))
    assert (other.status_code, error_of(other)) == (403, (200, None))
    narrow = await served.mint(PAGE_ID, scopes=["instagram_basic", "pages_manage_posts"])
    scoped = await graph(served, "POST", f"{IG_USER_ID}/media", narrow, image_url=url(source))
    assert scoped.status_code == 403
    unknown = await graph(served, "POST", "17841499999999999/media", await served.mint(PAGE_ID), image_url=url(source))
    assert error_of(unknown) == (100, 33)


async def test_carousels_need_two_to_ten_carousel_item_children(served: Served, source: FakeMediaSource) -> None:
    token = await served.mint(PAGE_ID)
    item = await graph(served, "POST", f"{IG_USER_ID}/media", token, image_url=url(source), is_carousel_item="true")
    single = (await graph(served, "POST", f"{IG_USER_ID}/media", token, image_url=url(source))).json()["id"]
    too_few = await graph(
        served, "POST", f"{IG_USER_ID}/media", token, media_type="CAROUSEL", children=item.json()["id"]
    )
    assert error_of(too_few) == (100, None)
    not_item = await graph(
        served, "POST", f"{IG_USER_ID}/media", token, media_type="CAROUSEL", children=f"{item.json()['id']},{single}"
    )
    assert "not a carousel item" in not_item.json()["error"]["message"]


async def test_publishing_before_finished_or_after_expiry_is_refused(source: FakeMediaSource) -> None:
    config = MetaSandboxConfig(container_delay=dt.timedelta(seconds=30), container_ttl=dt.timedelta(seconds=1))
    async with served_sandbox(config) as served:
        token = await served.mint(PAGE_ID)
        container = (await graph(served, "POST", f"{IG_USER_ID}/media", token, image_url=url(source))).json()["id"]
        early = await graph(served, "POST", f"{IG_USER_ID}/media_publish", token, creation_id=container)
        assert error_of(early) == (9007, 2207027)
        await asyncio.sleep(1.1)
        assert (await graph(served, "GET", container, token, fields="status_code")).json()["status_code"] == "EXPIRED"
        late = await graph(served, "POST", f"{IG_USER_ID}/media_publish", token, creation_id=container)
        assert error_of(late) == (-2, 2207020)


async def test_a_published_container_is_not_published_twice(served: Served, source: FakeMediaSource) -> None:
    token = await served.mint(PAGE_ID)
    container = (await graph(served, "POST", f"{IG_USER_ID}/media", token, image_url=url(source))).json()["id"]
    assert (await finished(served, container, token))["status_code"] == "FINISHED"
    first = await graph(served, "POST", f"{IG_USER_ID}/media_publish", token, creation_id=container)
    assert first.status_code == 200
    second = await graph(served, "POST", f"{IG_USER_ID}/media_publish", token, creation_id=container)
    assert error_of(second) == (9007, 2207027)
    assert (await finished(served, container, token))["status_code"] == "PUBLISHED"
    limit = (await graph(served, "GET", f"{IG_USER_ID}/content_publishing_limit", token)).json()
    assert limit == {"data": [{"quota_usage": 1}]}


async def test_a_reel_needs_a_video_and_an_image_a_jpeg(served: Served, source: FakeMediaSource) -> None:
    token = await served.mint(PAGE_ID)
    reel = await graph(served, "POST", f"{IG_USER_ID}/media", token, media_type="REELS", video_url=url(source, JPEG))
    assert (await finished(served, reel.json()["id"], token))["status"].startswith("Error: Unsupported video format")
    good = await graph(served, "POST", f"{IG_USER_ID}/media", token, media_type="REELS", video_url=url(source, MP4))
    assert (await finished(served, good.json()["id"], token))["status_code"] == "FINISHED"


async def test_the_media_list_pages_newest_first(served: Served, source: FakeMediaSource) -> None:
    token = await served.mint(PAGE_ID)
    published = []
    for caption in ("one", "two"):
        made = await graph(served, "POST", f"{IG_USER_ID}/media", token, image_url=url(source), caption=caption)
        await finished(served, made.json()["id"], token)
        answer = await graph(served, "POST", f"{IG_USER_ID}/media_publish", token, creation_id=made.json()["id"])
        published.append(answer.json()["id"])
    first = (await graph(served, "GET", f"{IG_USER_ID}/media", token, fields="caption,timestamp", limit="1")).json()
    assert [item["caption"] for item in first["data"]] == ["two"]
    after = first["paging"]["cursors"]["after"]
    rest = (await graph(served, "GET", f"{IG_USER_ID}/media", token, fields="caption", after=after)).json()
    assert [(item["id"], item["caption"]) for item in rest["data"]] == [(published[0], "one")]


async def test_page_media_refusals(served: Served, source: FakeMediaSource) -> None:
    token = await served.mint(PAGE_ID)
    video = await graph(served, "POST", f"{PAGE_ID}/videos", token, file_url=url(source, JPEG))
    assert error_of(video) == (352, None)
    unreachable = await graph(served, "POST", f"{PAGE_ID}/photos", token, url="http://127.0.0.1:9/x.jpg")
    assert error_of(unreachable) == (100, None)
    published = (await graph(served, "POST", f"{PAGE_ID}/photos", token, url=url(source))).json()["id"]
    attach = await graph(
        served, "POST", f"{PAGE_ID}/feed", token, **{"attached_media[0]": f'{{"media_fbid":"{published}"}}'}
    )
    assert "attached_media[0]" in attach.json()["error"]["message"]
    other = await graph(served, "POST", f"{PAGE_ID}/photos", await served.mint(SECOND_PAGE_ID), url=url(source))
    assert other.status_code == 403


async def test_a_running_sandbox_can_be_switched_to_a_low_publishing_limit(
    served: Served, source: FakeMediaSource
) -> None:
    changed = await served.control.patch(
        "/_sandbox/meta/settings", json={"publishing_limit": 0, "container_delay_ms": 0}
    )
    assert changed.json()["publishing_limit"] == 0
    token = await served.mint(PAGE_ID)
    container = (await graph(served, "POST", f"{IG_USER_ID}/media", token, image_url=url(source))).json()["id"]
    await finished(served, container, token)
    refused = await graph(served, "POST", f"{IG_USER_ID}/media_publish", token, creation_id=container)
    assert error_of(refused) == (9, 2207042)
    limit = (await graph(served, "GET", f"{IG_USER_ID}/content_publishing_limit", token, fields="config")).json()
    assert limit["data"][0]["config"] == {"quota_total": 0, "quota_duration": 86400}
