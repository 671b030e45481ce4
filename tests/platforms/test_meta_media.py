"""Meta media publishing against the sandbox over real HTTP: Page photo, multi-photo and video posts; Instagram
image, reel and carousel containers, their statuses, the publishing limit, reuse on retry and read-back.

The media bytes are served by :class:`FakeMediaSource` at presigned-like URLs the sandbox really downloads.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import pytest

from herald.contracts.media import MediaKind, MediaReference, Surface
from herald.platforms.base import (
    Account,
    ErrorClass,
    MediaContext,
    PlatformError,
    PlatformKit,
    PreparedPost,
    UploadRecord,
)
from herald.platforms.meta import build
from herald.platforms.meta.errors import classify_response
from herald.publishing.media import FAILED_STATE
from herald.sandboxes.meta.config import MetaSandboxConfig
from tests.platforms.test_meta_support import IG_USER_ID, PAGE_ID, Served, sandbox_settings, served_sandbox
from tests.support.media import FakeMediaSource, FakeUploadMemory, served_media

JPEG = b"\xff\xd8\xff\xe0" + b"\x00\x10JFIF" + bytes(range(256)) * 8
PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)
MP4 = b"\x00\x00\x00\x18ftypmp42" + bytes(512)
PAGE = Account(PAGE_ID, Surface.FACEBOOK_PAGE)
INSTAGRAM = Account(IG_USER_ID, Surface.INSTAGRAM)


@dataclass
class Env:
    served: Served
    kit: PlatformKit
    source: FakeMediaSource
    token: str  # the Page's token: it publishes to the Page and to its Instagram account

    def context(self, memory: FakeUploadMemory | None = None) -> MediaContext:
        return MediaContext(source=self.source, memory=memory or FakeUploadMemory())

    def image(self, data: bytes = JPEG, **describe: object) -> MediaReference:
        return self.source.add(data, **describe)

    def video(self) -> MediaReference:
        return self.source.add(MP4, kind=MediaKind.VIDEO, content_type="video/mp4", duration_ms=5000)

    def requests(self, edge: str, account: str = PAGE_ID) -> int:
        return self.served.sandbox.media_requests[f"{account}/{edge}"]

    def posts(self, account: str) -> list[dict[str, object]]:
        return [post.public() for post in self.served.sandbox.state.posts.by_account(account)]


@pytest.fixture
def source() -> Iterator[FakeMediaSource]:
    with served_media(FakeMediaSource()) as served:
        yield served


async def make_env(source: FakeMediaSource, **config: object) -> AsyncIterator[Env]:
    sandbox_config = MetaSandboxConfig.model_validate({"container_delay": dt.timedelta(milliseconds=50), **config})
    async with served_sandbox(sandbox_config) as served, httpx.AsyncClient() as http:
        settings = sandbox_settings(
            served.base_url, timeout_seconds=5.0, container_poll_seconds=0.02, container_wait_seconds=3.0
        )
        yield Env(served, build(settings, http), source, await served.mint(PAGE_ID))


@pytest.fixture
async def env(source: FakeMediaSource) -> AsyncIterator[Env]:
    async for made in make_env(source):
        yield made


def post_with(text: str, *media: MediaReference, link: str | None = None) -> PreparedPost:
    return PreparedPost(parts=(text,), link=link, media=media)


# -- Facebook Page ---------------------------------------------------------------------------------------------


async def test_one_photo_is_a_published_photo_whose_post_is_returned(env: Env) -> None:
    image = env.image()
    published = await env.kit.client.publish(PAGE, env.token, post_with("One photo", image), env.context())
    [stored] = env.posts(PAGE_ID)
    assert (published.post_id, stored["text"], stored["kind"]) == (stored["id"], "One photo", "photo")
    assert published.url == f"https://www.facebook.com/{published.post_id}"
    attached = stored["attached_media"]
    assert isinstance(attached, list)
    assert env.served.sandbox.uploads[attached[0]].size == len(JPEG)  # the sandbox downloaded the presigned URL
    assert env.requests("photos") == 1


async def test_a_create_during_which_facebook_fetches_the_file_gets_the_longer_fetch_timeout(
    source: FakeMediaSource,
) -> None:
    # Facebook fetches a photo's URL inside the create: under load that outlasts the plain timeout, and a create
    # without an answer is an unknown outcome (a retry and read-backs). The same delay fails a text post.
    async with served_sandbox(MetaSandboxConfig()) as served, httpx.AsyncClient() as http:
        settings = sandbox_settings(served.base_url, timeout_seconds=0.5, fetch_timeout_seconds=5.0)
        env = Env(served, build(settings, http), source, await served.mint(PAGE_ID))
        await served.arm(kind="latency", latency_ms=1000, count=2)
        published = await env.kit.client.publish(PAGE, env.token, post_with("A slow photo", env.image()), env.context())
        assert [p["id"] for p in env.posts(PAGE_ID)] == [published.post_id]
        with pytest.raises(PlatformError) as caught:
            await env.kit.client.publish(PAGE, env.token, post_with("A slow text post"), env.context())
        assert caught.value.error_class is ErrorClass.UNKNOWN_OUTCOME


async def test_a_link_goes_into_a_photo_caption_and_the_read_back_matches_it(env: Env) -> None:
    since = dt.datetime.now(dt.UTC)
    post = post_with("Look", env.image(), link="https://example.com/a")
    published = await env.kit.client.publish(PAGE, env.token, post, env.context())
    assert env.posts(PAGE_ID)[0]["text"] == "Look\n\nhttps://example.com/a"
    found = await env.kit.client.find_published(PAGE, env.token, post, since)
    assert found is not None
    assert found.post_id == published.post_id


async def test_several_photos_are_uploaded_unpublished_then_attached_to_one_feed_post(env: Env) -> None:
    images = [env.image() for _ in range(3)]
    memory = FakeUploadMemory()
    published = await env.kit.client.publish(PAGE, env.token, post_with("Three", *images), env.context(memory))
    [stored] = env.posts(PAGE_ID)
    assert stored["id"] == published.post_id
    assert stored["text"] == "Three"
    uploaded = [record.platform_media_id for _, record in memory.history[:3]]
    assert [record.state for _, record in memory.history] == ["unpublished_photo"] * 3 + ["published"]
    assert stored["attached_media"] == uploaded
    assert all(not env.served.sandbox.uploads[i].published for i in uploaded)
    assert env.requests("photos") == 3


async def test_a_retry_reuses_the_unpublished_photos_that_still_exist(env: Env) -> None:
    images = [env.image() for _ in range(3)]
    memory = FakeUploadMemory()
    await env.served.arm(kind="error", operation="create", account=PAGE_ID, error="rate_limited")
    with pytest.raises(PlatformError) as caught:
        await env.kit.client.publish(PAGE, env.token, post_with("Retried", *images), env.context(memory))
    assert caught.value.error_class is ErrorClass.RETRY_LATER
    assert env.requests("photos") == 3
    assert env.posts(PAGE_ID) == []
    gone = memory.records[images[1].media_id].platform_media_id
    del env.served.sandbox.uploads[gone]  # Facebook no longer has this one: only it is uploaded again

    published = await env.kit.client.publish(PAGE, env.token, post_with("Retried", *images), env.context(memory))
    [stored] = env.posts(PAGE_ID)
    assert stored["id"] == published.post_id
    assert env.requests("photos") == 4
    attached = stored["attached_media"]
    assert isinstance(attached, list)
    assert gone not in attached
    assert len(attached) == 3


async def test_a_publish_whose_answer_was_recorded_is_not_made_again(env: Env) -> None:
    memory = FakeUploadMemory()
    post = post_with("Once", env.image())
    first = await env.kit.client.publish(PAGE, env.token, post, env.context(memory))
    again = await env.kit.client.publish(PAGE, env.token, post, env.context(memory))
    assert again.post_id == first.post_id
    assert env.requests("photos") == 1
    assert len(env.posts(PAGE_ID)) == 1


async def test_a_video_is_posted_with_its_description_and_read_back(env: Env) -> None:
    since = dt.datetime.now(dt.UTC)
    post = post_with("A video", env.video())
    published = await env.kit.client.publish(PAGE, env.token, post, env.context())
    [stored] = env.posts(PAGE_ID)
    assert stored["video_id"] == published.post_id
    assert stored["text"] == "A video"
    assert published.url == f"https://www.facebook.com/{PAGE_ID}/videos/{published.post_id}"
    found = await env.kit.client.find_published(PAGE, env.token, post, since)
    assert found is not None
    assert found.post_id == stored["id"]


async def test_a_video_mixed_with_photos_is_refused_before_any_upload(env: Env) -> None:
    with pytest.raises(PlatformError) as caught:
        await env.kit.client.publish(PAGE, env.token, post_with("Mixed", env.image(), env.video()), env.context())
    assert caught.value.error_class is ErrorClass.PERMANENT
    assert "meta.page_media_mix" in caught.value.message
    assert env.requests("photos") == env.requests("videos") == 0


async def test_a_photo_facebook_cannot_read_is_permanent(env: Env) -> None:
    with pytest.raises(PlatformError) as caught:
        await env.kit.client.publish(PAGE, env.token, post_with("Bad", env.image(b"not an image")), env.context())
    assert (caught.value.error_class, caught.value.platform_code) == (ErrorClass.PERMANENT, "324")


async def test_a_photo_url_facebook_cannot_fetch_is_retried_later(env: Env) -> None:
    image = env.image()
    env.source.base_url = "http://127.0.0.1:9"  # Herald's store is away: Facebook's download of the URL fails
    with pytest.raises(PlatformError) as caught:
        await env.kit.client.publish(PAGE, env.token, post_with("Store away", image), env.context())
    assert (caught.value.error_class, caught.value.platform_code) == (ErrorClass.RETRY_LATER, "100")
    assert env.posts(PAGE_ID) == []


class StoreAway(Exception):
    """What the object store's client raises when the store cannot be reached."""


@dataclass
class AwaySource:
    """Herald's store is down: presigned URLs lead nowhere and reading the bytes fails too."""

    inner: FakeMediaSource

    async def stream(self, media: MediaReference, *, chunk_bytes: int) -> AsyncIterator[bytes]:
        raise StoreAway(media.storage_key)
        yield b""  # an async generator, as the real source's

    def presigned_url(self, media: MediaReference, *, expires_in_seconds: int) -> str:
        return "http://127.0.0.1:9/away"


@pytest.mark.parametrize("account", [PAGE, INSTAGRAM], ids=["page", "instagram"])
async def test_with_herald_store_away_its_own_error_propagates_and_uses_up_no_attempt(
    env: Env, account: Account
) -> None:
    # The pipeline redelivers on a dependency's own error without counting an attempt (as when X or LinkedIn read
    # the store themselves), so a short store outage does not exhaust the attempts of Meta posts.
    image = env.image()
    context = MediaContext(source=AwaySource(env.source), memory=FakeUploadMemory())
    with pytest.raises(StoreAway):
        await env.kit.client.publish(account, env.token, post_with("Store away", image), context)
    assert env.posts(PAGE_ID) == env.posts(IG_USER_ID) == []


def test_only_fetch_failures_of_code_100_are_retried() -> None:
    def classed(error: dict[str, object]) -> ErrorClass:
        response = httpx.Response(400, json={"error": {"type": "OAuthException", **error}})
        return classify_response(response, create=True).error_class

    assert classed({"code": 100, "message": "(#100) url should represent a valid URL"}) is ErrorClass.RETRY_LATER
    assert classed({"code": 9004, "error_subcode": 2207052, "message": "fetch"}) is ErrorClass.RETRY_LATER
    assert classed({"code": -2, "error_subcode": 2207003, "message": "slow"}) is ErrorClass.RETRY_LATER
    assert classed({"code": 100, "message": "(#100) Invalid parameter"}) is ErrorClass.PERMANENT
    assert classed({"code": 324, "message": "(#324) Missing or invalid image file"}) is ErrorClass.PERMANENT
    assert classed({"code": 36000, "error_subcode": 2207004, "message": "too large"}) is ErrorClass.PERMANENT


async def test_media_without_a_media_context_is_a_configuration_error(env: Env) -> None:
    with pytest.raises(PlatformError) as caught:
        await env.kit.client.publish(PAGE, env.token, post_with("No context", env.image()))
    assert caught.value.error_class is ErrorClass.CONFIGURATION


# -- Instagram -------------------------------------------------------------------------------------------------


async def test_an_instagram_image_is_a_container_polled_until_finished_then_published(env: Env) -> None:
    memory = FakeUploadMemory()
    image = env.image(alt_text="A test card")
    published = await env.kit.client.publish(INSTAGRAM, env.token, post_with("IG image", image), env.context(memory))
    [stored] = env.posts(IG_USER_ID)
    assert (stored["id"], stored["text"], stored["media_type"]) == (published.post_id, "IG image", "IMAGE")
    assert published.url == stored["permalink"]
    [container] = env.served.sandbox.containers.values()
    assert (container.size, container.alt_text) == (len(JPEG), "A test card")
    assert [record.state for _, record in memory.history] == ["container", "published"]
    first = memory.history[0][1]
    assert first.platform_media_id == container.id
    assert first.expires_at is not None
    assert dt.timedelta(hours=22) < first.expires_at - dt.datetime.now(dt.UTC) < dt.timedelta(hours=24)


async def test_an_instagram_reel(env: Env) -> None:
    published = await env.kit.client.publish(INSTAGRAM, env.token, post_with("A reel", env.video()), env.context())
    [stored] = env.posts(IG_USER_ID)
    assert (stored["id"], stored["media_type"], stored["media_product_type"]) == (published.post_id, "VIDEO", "REELS")
    [container] = env.served.sandbox.containers.values()
    assert container.media_type == "REELS"
    assert container.size == len(MP4)


async def test_an_instagram_carousel_of_children_then_a_carousel_container(env: Env) -> None:
    items = [env.image(), env.video(), env.image()]
    memory = FakeUploadMemory()
    published = await env.kit.client.publish(INSTAGRAM, env.token, post_with("Carousel", *items), env.context(memory))
    [stored] = env.posts(IG_USER_ID)
    assert (stored["id"], stored["media_type"]) == (published.post_id, "CAROUSEL_ALBUM")
    containers = env.served.sandbox.containers
    parent = containers[str(stored["container_id"])]
    assert parent.media_type == "CAROUSEL"
    assert len(parent.children) == 3
    assert [containers[c].media_type for c in parent.children] == ["IMAGE", "VIDEO", "IMAGE"]
    assert all(containers[c].is_carousel_item for c in parent.children)
    assert env.requests("media", IG_USER_ID) == 4


async def test_a_png_for_instagram_ends_in_error_with_instagrams_reason(env: Env) -> None:
    memory, png = FakeUploadMemory(), env.image(PNG)
    with pytest.raises(PlatformError) as caught:
        await env.kit.client.publish(INSTAGRAM, env.token, post_with("PNG", png), env.context(memory))
    assert caught.value.error_class is ErrorClass.PERMANENT
    assert "Only JPEG" in caught.value.message
    assert env.posts(IG_USER_ID) == []
    # recorded as "failed", so the publisher's processing-failure metric counts it
    assert [record.state for _, record in memory.history] == ["container", FAILED_STATE]
    assert "Only JPEG" in memory.records[png.media_id].detail["error"]


async def test_a_url_instagram_cannot_fetch_is_retried_later_with_a_new_container(env: Env) -> None:
    image = env.image()
    memory = FakeUploadMemory()
    reachable = env.source.base_url
    env.source.base_url = "http://127.0.0.1:9"  # nothing listens there (the store is away): the download fails
    with pytest.raises(PlatformError) as caught:
        await env.kit.client.publish(INSTAGRAM, env.token, post_with("Unreachable", image), env.context(memory))
    assert (caught.value.error_class, caught.value.platform_code) == (
        ErrorClass.RETRY_LATER,
        "container_download_failed",
    )
    assert "Media download has failed" in caught.value.message
    assert env.posts(IG_USER_ID) == []
    env.source.base_url = reachable  # the store is back: the retry must not reuse the errored container
    published = await env.kit.client.publish(INSTAGRAM, env.token, post_with("Unreachable", image), env.context(memory))
    assert env.requests("media", IG_USER_ID) == 2
    [stored] = env.posts(IG_USER_ID)
    assert stored["id"] == published.post_id
    assert [record.state for _, record in memory.history] == ["container", "download_failed", "container", "published"]


async def test_a_carousel_with_a_failed_child_says_which_and_why(env: Env) -> None:
    memory, jpeg, png = FakeUploadMemory(), env.image(), env.image(PNG)
    with pytest.raises(PlatformError) as caught:
        await env.kit.client.publish(INSTAGRAM, env.token, post_with("Carousel", jpeg, png), env.context(memory))
    assert caught.value.error_class is ErrorClass.PERMANENT
    assert "Only JPEG" in caught.value.message
    assert "carousel item" in caught.value.message
    # only the child Instagram could not process is recorded as failed
    assert memory.records[png.media_id].state == FAILED_STATE
    assert memory.records[jpeg.media_id].state == "carousel_item"


async def test_an_injected_container_error_is_permanent(env: Env) -> None:
    await env.served.control.post("/_sandbox/meta/containers/faults", json={"status": "ERROR"})
    with pytest.raises(PlatformError) as caught:
        await env.kit.client.publish(INSTAGRAM, env.token, post_with("Err", env.image()), env.context())
    assert (caught.value.error_class, caught.value.platform_code) == (ErrorClass.PERMANENT, "container_error")
    assert env.requests("media_publish", IG_USER_ID) == 0


async def test_an_expired_container_is_made_again_and_published_once(env: Env) -> None:
    await env.served.control.post("/_sandbox/meta/containers/faults", json={"status": "EXPIRED"})
    memory = FakeUploadMemory()
    await env.kit.client.publish(INSTAGRAM, env.token, post_with("Expired", env.image()), env.context(memory))
    assert env.requests("media", IG_USER_ID) == 2
    assert len(env.posts(IG_USER_ID)) == 1
    assert [record.state for _, record in memory.history] == ["container", "container", "published"]


async def test_an_expired_carousel_makes_new_children_and_a_new_carousel(env: Env) -> None:
    items = [env.image(), env.image()]
    memory = FakeUploadMemory()
    await env.served.arm(kind="error", operation="create", account=IG_USER_ID, error="rate_limited")
    with pytest.raises(PlatformError):
        await env.kit.client.publish(INSTAGRAM, env.token, post_with("Later", *items), env.context(memory))
    head = memory.records[items[0].media_id]
    await env.served.control.post(f"/_sandbox/meta/containers/{head.detail['carousel']}/expire")
    await env.kit.client.publish(INSTAGRAM, env.token, post_with("Later", *items), env.context(memory))
    assert env.requests("media", IG_USER_ID) == 6  # 2 children + carousel, twice
    assert len(env.posts(IG_USER_ID)) == 1


async def test_a_retry_reuses_the_recorded_containers(env: Env) -> None:
    items = [env.image(), env.image(), env.image()]
    memory = FakeUploadMemory()
    await env.served.arm(kind="error", operation="create", account=IG_USER_ID, error="server_error")
    with pytest.raises(PlatformError) as caught:
        await env.kit.client.publish(INSTAGRAM, env.token, post_with("Reuse", *items), env.context(memory))
    assert caught.value.error_class is ErrorClass.UNKNOWN_OUTCOME  # a 5xx on media_publish: maybe published
    assert env.requests("media", IG_USER_ID) == 4
    published = await env.kit.client.publish(INSTAGRAM, env.token, post_with("Reuse", *items), env.context(memory))
    assert env.requests("media", IG_USER_ID) == 4  # no container made again
    assert env.requests("media_publish", IG_USER_ID) == 2
    assert [post["id"] for post in env.posts(IG_USER_ID)] == [published.post_id]


async def test_killed_after_media_publish_the_post_is_found_not_published_again(env: Env) -> None:
    since = dt.datetime.now(dt.UTC)
    memory = FakeUploadMemory()
    post = post_with("Published then killed", env.image())
    # Instagram publishes, then the answer is lost: what a publisher killed during media_publish sees.
    await env.served.arm(kind="accept_then_fail", operation="create", account=IG_USER_ID, mode="503")
    with pytest.raises(PlatformError) as caught:
        await env.kit.client.publish(INSTAGRAM, env.token, post, env.context(memory))
    assert caught.value.error_class is ErrorClass.UNKNOWN_OUTCOME
    [stored] = env.posts(IG_USER_ID)
    found = await env.kit.client.find_published(INSTAGRAM, env.token, post, since)
    assert found is not None
    assert found.post_id == stored["id"]
    # Even a blind retry does not publish twice: the recorded container says PUBLISHED, the read-back finds it.
    again = await env.kit.client.publish(INSTAGRAM, env.token, post, env.context(memory))
    assert again.post_id == stored["id"]
    assert env.requests("media_publish", IG_USER_ID) == 1
    assert len(env.posts(IG_USER_ID)) == 1


async def test_the_read_back_says_none_for_a_caption_not_published(env: Env) -> None:
    await env.kit.client.publish(INSTAGRAM, env.token, post_with("Something else", env.image()), env.context())
    since = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    assert await env.kit.client.find_published(INSTAGRAM, env.token, post_with("Never", env.image()), since) is None


async def test_a_container_still_processing_is_retried_later_and_polled_again(source: FakeMediaSource) -> None:
    async for env in make_env(source, container_delay=dt.timedelta(seconds=1)):
        http = env.kit.client._graph._http  # type: ignore[attr-defined]  # the same shared client
        slow = build(
            sandbox_settings(env.served.base_url, container_poll_seconds=0.05, container_wait_seconds=0.2), http
        )
        memory = FakeUploadMemory()
        post = post_with("Slow", env.image())
        with pytest.raises(PlatformError) as caught:
            await slow.client.publish(INSTAGRAM, env.token, post, env.context(memory))
        assert caught.value.error_class is ErrorClass.RETRY_LATER
        assert caught.value.retry_at is not None
        await env.kit.client.publish(INSTAGRAM, env.token, post, env.context(memory))
        assert env.requests("media", IG_USER_ID) == 1
        assert len(env.posts(IG_USER_ID)) == 1


async def test_at_the_publishing_limit_the_post_waits_until_the_window_frees(source: FakeMediaSource) -> None:
    async for env in make_env(source, publishing_limit=1):
        before = dt.datetime.now(dt.UTC)
        await env.kit.client.publish(INSTAGRAM, env.token, post_with("First", env.image()), env.context())
        with pytest.raises(PlatformError) as caught:
            await env.kit.client.publish(INSTAGRAM, env.token, post_with("Second", env.image()), env.context())
        error = caught.value
        assert (error.error_class, error.platform_code) == (ErrorClass.RETRY_LATER, "publishing_limit")
        assert error.retry_at is not None
        # The first post leaves the 24-hour window a day after it was published (to the second).
        assert before - dt.timedelta(seconds=1) <= error.retry_at - dt.timedelta(hours=24) <= dt.datetime.now(dt.UTC)
        assert env.requests("media_publish", IG_USER_ID) == 1


async def test_over_the_limit_media_publish_answers_code_9_subcode_2207042(source: FakeMediaSource) -> None:
    async for env in make_env(source, publishing_limit=1):
        await env.kit.client.publish(INSTAGRAM, env.token, post_with("First", env.image()), env.context())
        url = env.source.presigned_url(env.image(), expires_in_seconds=60)
        graph = env.served.control
        made = await graph.post(f"/v25.0/{IG_USER_ID}/media", data={"image_url": url, "access_token": env.token})
        container = made.json()["id"]
        for _ in range(100):
            status = (
                await graph.get(f"/v25.0/{container}", params={"fields": "status_code", "access_token": env.token})
            ).json()
            if status["status_code"] == "FINISHED":
                break
            await asyncio.sleep(0.02)
        answer = await graph.post(
            f"/v25.0/{IG_USER_ID}/media_publish", data={"creation_id": container, "access_token": env.token}
        )
        assert answer.status_code == 400
        error = answer.json()["error"]
        assert (error["code"], error["error_subcode"]) == (9, 2207042)
        classified = classify_response(answer, create=True)
        assert classified.error_class is ErrorClass.RETRY_LATER
        assert classified.platform_code == "9/2207042"
        assert classified.retry_at is not None


async def test_instagram_needs_media(env: Env) -> None:
    with pytest.raises(PlatformError) as caught:
        await env.kit.client.publish(INSTAGRAM, env.token, post_with("Text only"), env.context())
    assert caught.value.error_class is ErrorClass.PERMANENT
    assert "instagram.media_required" in caught.value.message


# -- Resumable Page video upload -------------------------------------------------------------------------------

LONG_MP4 = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 2  # 524 bytes: six 100-byte ranges


@dataclass
class KilledMemory(FakeUploadMemory):
    """Dies (like a killed publisher) on the ``die_at``-th record, after the platform call it follows was made."""

    die_at: int = 0

    async def remember(self, media: MediaReference, record: UploadRecord) -> None:
        if len(self.history) + 1 == self.die_at:
            self.die_at = 0
            raise RuntimeError("publisher killed")
        await super().remember(media, record)


def resumable(env: Env) -> PlatformKit:
    settings = sandbox_settings(env.served.base_url, video_resumable_above_bytes=0, video_chunk_bytes=64)
    return build(settings, env.kit.client._graph._http)  # type: ignore[attr-defined]  # the same shared client


async def test_a_large_video_goes_through_the_resumable_upload_in_the_ranges_facebook_asks(
    source: FakeMediaSource,
) -> None:
    async for env in make_env(source, video_chunk_bytes=100):
        video = env.source.add(LONG_MP4, kind=MediaKind.VIDEO, content_type="video/mp4", duration_ms=5000)
        memory = FakeUploadMemory()
        published = await resumable(env).client.publish(PAGE, env.token, post_with("Big", video), env.context(memory))
        [stored] = env.posts(PAGE_ID)
        assert stored["video_id"] == published.post_id
        assert stored["text"] == "Big"
        assert env.served.sandbox.uploads[published.post_id].size == len(LONG_MP4)
        assert (env.requests("videos:start"), env.requests("videos:transfer"), env.requests("videos:finish")) == (
            1,
            6,
            1,
        )
        states = [record.state for _, record in memory.history]
        assert states == ["video_session"] * 7 + ["published"]
        assert [r.detail.get("offset") for _, r in memory.history[:7]] == [
            "0",
            "100",
            "200",
            "300",
            "400",
            "500",
            "524",
        ]


async def test_a_video_upload_killed_mid_way_resumes_where_facebook_is(source: FakeMediaSource) -> None:
    async for env in make_env(source, video_chunk_bytes=100):
        video = env.source.add(LONG_MP4, kind=MediaKind.VIDEO, content_type="video/mp4", duration_ms=5000)
        memory = KilledMemory(die_at=3)  # start and the first range recorded; the second range sent, not recorded
        kit = resumable(env)
        with pytest.raises(RuntimeError):
            await kit.client.publish(PAGE, env.token, post_with("Resumed", video), env.context(memory))
        assert memory.records[video.media_id].detail["offset"] == "100"
        published = await kit.client.publish(PAGE, env.token, post_with("Resumed", video), env.context(memory))
        assert env.served.sandbox.uploads[published.post_id].size == len(LONG_MP4)
        # One start only; the transfer at the stale offset 100 was refused (1363037) and the upload went on from 200.
        assert (env.requests("videos:start"), env.requests("videos:transfer")) == (1, 2 + 1 + 4)
        assert len(env.posts(PAGE_ID)) == 1
