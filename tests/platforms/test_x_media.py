"""X media publishing against the X sandbox: every upload step recorded before the next, reuse, resume, expiry,
processing, and the error classes of each failure."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from herald.contracts.media import MediaKind, MediaReference
from herald.platforms.base import Account, ErrorClass, MediaContext, PlatformError, PreparedPost, UploadRecord
from herald.platforms.x import XClient, XSettings
from herald.sandboxes.faults import Fault, FaultKind, Operation
from herald.sandboxes.x.config import XSandboxConfig
from tests.platforms.test_x_support import XWorld, x_world
from tests.support.media import FakeMediaSource, FakeUploadMemory

SEGMENT = 64 * 1024
VIDEO = bytes(range(256)) * 1000  # 256,000 bytes: 4 segments of 64 KiB
IMAGE = b"\xff\xd8\xff\xe0" + b"jpeg" * 5000


@dataclass
class Media:
    world: XWorld
    client: XClient
    source: FakeMediaSource
    memory: FakeUploadMemory
    account: Account
    token: str

    @property
    def context(self) -> MediaContext:
        return MediaContext(source=self.source, memory=self.memory)

    async def publish(self, *items: MediaReference, text: str = "With media") -> str:
        post = PreparedPost(parts=(text,), media=items)
        return (await self.client.publish(self.account, self.token, post, self.context)).post_id

    async def uploads(self) -> list[dict[str, Any]]:
        response = await self.world.control.get("/_sandbox/media")
        uploads: list[dict[str, Any]] = response.json()
        return uploads

    async def post(self, post_id: str) -> dict[str, Any]:
        posts = (await self.world.control.get("/_sandbox/posts", params={"account": "media-user"})).json()
        found: dict[str, Any] = next(p for p in posts if p["id"] == post_id)
        return found

    def steps(self, item: MediaReference) -> list[str]:
        return [
            f"{r.state}:{r.detail.get('segments', '')}".rstrip(":")
            for m, r in self.memory.history
            if m == item.media_id
        ]


@pytest.fixture
async def media() -> AsyncIterator[Media]:
    config = XSandboxConfig(enforce_rate_limits=False, media_processing_seconds=0.3, media_check_after_secs=0)
    async with x_world(config) as world:
        settings = XSettings.for_sandbox(world.base_url, media_segment_bytes=SEGMENT, media_min_poll_seconds=0.05)
        token = (await world.mint("media-user"))["access_token"]
        account = await world.account(token)
        yield Media(world, XClient(settings, world.http), FakeMediaSource(), FakeUploadMemory(), account, token)


def video(media: Media, data: bytes = VIDEO) -> MediaReference:
    return media.source.add(data, kind=MediaKind.VIDEO, content_type="video/mp4", duration_ms=3000)


async def test_image_with_alt_text_is_uploaded_recorded_and_attached(media: Media) -> None:
    image = media.source.add(IMAGE, alt_text="A cat on a keyboard")
    post_id = await media.publish(image)
    [upload] = await media.uploads()
    assert upload["sha256"] == hashlib.sha256(IMAGE).hexdigest()
    assert (upload["media_category"], upload["alt_text"], upload["state"]) == (
        "tweet_image",
        "A cat on a keyboard",
        "succeeded",
    )
    assert (await media.post(post_id))["media_ids"] == [upload["id"]]
    assert media.steps(image) == ["initialized:0", "appended:1", "finalized", "ready"]
    ready = media.memory.records[image.media_id]
    assert ready.platform_media_id == upload["id"]
    assert ready.expires_at is not None
    assert ready.expires_at > dt.datetime.now(dt.UTC) + dt.timedelta(hours=23)


async def test_video_goes_in_segments_and_waits_for_processing(media: Media) -> None:
    clip = video(media)
    post_id = await media.publish(clip)
    [upload] = await media.uploads()
    assert (upload["segments"], upload["received_bytes"], upload["sha256"]) == (
        4,
        len(VIDEO),
        hashlib.sha256(VIDEO).hexdigest(),
    )
    assert media.steps(clip) == [
        "initialized:0",
        "appended:1",
        "appended:2",
        "appended:3",
        "appended:4",
        "finalized",
        "ready",
    ]
    assert (await media.post(post_id))["attachments"] == {"media_keys": [upload["media_key"]]}


async def test_failed_processing_is_permanent_and_names_xs_error(media: Media) -> None:
    media.world.sandbox.state.faults.arm(Fault(kind=FaultKind.ERROR, operation=Operation.PROCESSING))
    with pytest.raises(PlatformError) as caught:
        await media.publish(video(media))
    assert caught.value.error_class is ErrorClass.PERMANENT
    assert "InvalidMedia" in caught.value.message
    assert "Unsupported video format" in caught.value.message
    assert media.world.sandbox.state.posts.all() == []
    assert [r.state for _, r in media.memory.history][-1] == "failed"


async def test_a_retry_reuses_a_valid_media_id_without_reading_the_bytes_again(media: Media) -> None:
    clip = video(media)
    media.world.sandbox.state.faults.arm(Fault(kind=FaultKind.ERROR, error="service_unavailable"))  # the create
    with pytest.raises(PlatformError) as caught:
        await media.publish(clip)
    assert caught.value.error_class is ErrorClass.UNKNOWN_OUTCOME
    reads = media.source.reads
    await media.publish(clip)
    assert media.source.reads == reads
    assert len(await media.uploads()) == 1


async def test_a_recorded_id_near_expiry_is_uploaded_again(media: Media) -> None:
    image = media.source.add(IMAGE)
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30)
    await media.memory.remember(image, UploadRecord("1880000000000000999", "ready", soon))
    post_id = await media.publish(image)
    [upload] = await media.uploads()
    assert (await media.post(post_id))["media_ids"] == [upload["id"]]


async def test_media_id_expired_at_x_is_uploaded_again_and_the_create_resent(media: Media) -> None:
    image = media.source.add(IMAGE)
    first = media.memory.records.get(image.media_id)
    assert first is None
    await media.client.media.upload_all((image,), media.context, media.token)
    old = media.memory.records[image.media_id].platform_media_id
    await media.world.control.post(f"/_sandbox/media/{old}/expire")
    post_id = await media.publish(image)
    [new] = (await media.post(post_id))["media_ids"]
    assert new != old
    assert media.memory.records[image.media_id].platform_media_id == new


async def test_a_failed_append_is_retry_later_and_the_retry_resumes_after_the_last_recorded_segment(
    media: Media,
) -> None:
    faults = media.world.sandbox.state.faults
    for _ in range(3):  # initialize, append 0, append 1 go through
        faults.arm(Fault(kind=FaultKind.LATENCY, operation=Operation.UPLOAD))
    faults.arm(Fault(kind=FaultKind.ERROR, operation=Operation.UPLOAD, error="server_error"))  # append 2
    clip = video(media)
    with pytest.raises(PlatformError) as caught:
        await media.publish(clip)
    assert caught.value.error_class is ErrorClass.RETRY_LATER
    assert media.memory.records[clip.media_id].detail == {"segments": "2"}
    await media.publish(clip)
    [upload] = await media.uploads()
    assert (upload["segments"], upload["sha256"]) == (4, hashlib.sha256(VIDEO).hexdigest())
    assert media.steps(clip)[-5:] == ["appended:2", "appended:3", "appended:4", "finalized", "ready"]


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ("rate_limited", ErrorClass.RETRY_LATER),
        ("server_error", ErrorClass.RETRY_LATER),
        ("not_permitted", ErrorClass.RECONNECT),
        ("expired_token", ErrorClass.REFRESH_TOKEN),
    ],
)
async def test_upload_failures_before_the_create_are_classified(media: Media, fault: str, expected: ErrorClass) -> None:
    media.world.sandbox.state.faults.arm(Fault(kind=FaultKind.ERROR, operation=Operation.UPLOAD, error=fault))
    with pytest.raises(PlatformError) as caught:
        await media.publish(media.source.add(IMAGE))
    assert caught.value.error_class is expected
    assert media.world.sandbox.state.posts.all() == []


async def test_a_type_x_refuses_is_permanent_and_says_why(media: Media) -> None:
    odd = media.source.add(IMAGE, content_type="image/heic")
    with pytest.raises(PlatformError) as caught:
        await media.publish(odd)
    assert caught.value.error_class is ErrorClass.PERMANENT
    assert "image/heic" in caught.value.message


async def test_a_token_without_media_write_must_reconnect(media: Media) -> None:
    token = (await media.world.mint("media-user", scopes=["tweet.read", "tweet.write", "users.read"]))["access_token"]
    media.token = token
    with pytest.raises(PlatformError) as caught:
        await media.publish(media.source.add(IMAGE))
    assert caught.value.error_class is ErrorClass.RECONNECT


async def test_media_without_a_context_is_a_configuration_error(media: Media) -> None:
    post = PreparedPost(parts=("x",), media=(media.source.add(IMAGE),))
    with pytest.raises(PlatformError) as caught:
        await media.client.publish(media.account, media.token, post)
    assert caught.value.error_class is ErrorClass.CONFIGURATION


async def test_four_images_in_order(media: Media) -> None:
    images = [media.source.add(IMAGE + bytes([n])) for n in range(4)]
    post_id = await media.publish(*images)
    ids = [media.memory.records[i.media_id].platform_media_id for i in images]
    assert (await media.post(post_id))["media_ids"] == ids


async def test_processing_longer_than_the_wait_is_retry_later_and_the_retry_picks_it_up(media: Media) -> None:
    media.world.sandbox.config.media_processing_seconds = 1.0
    client = XClient(
        media.client.settings.model_copy(update={"media_processing_max_wait_seconds": 0.2}), media.world.http
    )
    clip = video(media)
    with pytest.raises(PlatformError) as caught:
        await client.media.upload_all((clip,), media.context, media.token)
    assert caught.value.error_class is ErrorClass.RETRY_LATER
    assert media.memory.records[clip.media_id].state == "finalized"
    await media.publish(clip)  # the default wait: STATUS only, no new upload
    assert len(await media.uploads()) == 1
