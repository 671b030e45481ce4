"""The pipeline's media wiring: the request's media and surface reach the adapter, with a media context whose memory
is the ledger's (per distribution) and whose reads are measured; a post with media but no object store waits for an
operator instead of failing."""

from __future__ import annotations

import uuid

import pytest

from herald.contracts.media import MediaKind, Surface
from herald.contracts.platform import Platform
from herald.objectstore import ObjectStoreConfigError
from herald.platforms.base import ErrorClass, MediaContext, PlatformError, PreparedPost, UploadRecord
from herald.publishing.app import open_object_store
from herald.publishing.attempt import Attempt
from herald.publishing.decisions import Ack, Retry
from herald.publishing.ledger import Delivery, Status
from herald.publishing.media import FAILED_STATE
from tests.publishing.fakes import FakeClient, Harness, request
from tests.support.media import FakeMediaSource

CLIP = bytes(range(256)) * 40  # 10,240 bytes


async def test_media_and_surface_reach_the_adapter_with_the_ledgers_memory() -> None:
    source = FakeMediaSource()
    photo = source.add(b"photo-bytes", alt_text="a photo")
    clip = source.add(CLIP, kind=MediaKind.VIDEO, content_type="video/mp4", duration_ms=2000)
    harness = Harness.build(media_source=source)
    seen: list[UploadRecord | None] = []

    async def upload(post: PreparedPost, media: MediaContext | None) -> None:
        assert media is not None
        for item in post.media:
            seen.append(await media.memory.recall(item))
            chunks = [chunk async for chunk in media.source.stream(item, chunk_bytes=4096)]
            assert b"".join(chunks) == source.objects[item.storage_key]
            await media.memory.remember(item, UploadRecord(f"x-{item.media_id}", "ready"))

    harness.client.on_publish = upload
    sent = request(platform=Platform.META, surface=Surface.INSTAGRAM, media=[photo, clip])
    assert await harness.pipeline.process(Attempt(sent, 1)) == Ack()

    [(account, post, _)] = harness.client.calls
    assert account.surface is Surface.INSTAGRAM
    assert post.media == (photo, clip)
    assert seen == [None, None]
    assert harness.ledger.uploads[(sent.distribution_id, clip.media_id)] == UploadRecord(f"x-{clip.media_id}", "ready")
    assert harness.metric("herald_platform_media_bytes_total") == len(b"photo-bytes") + len(CLIP)
    assert harness.metric("herald_media_upload_seconds_count") == 2


async def test_a_retry_of_the_same_distribution_recalls_what_was_uploaded() -> None:
    source = FakeMediaSource()
    photo = source.add(b"photo-bytes")
    harness = Harness.build(media_source=source)
    recalled: list[UploadRecord | None] = []

    async def upload(post: PreparedPost, media: MediaContext | None) -> None:
        assert media is not None
        recalled.append(await media.memory.recall(photo))
        await media.memory.remember(photo, UploadRecord("x-1", "ready"))

    harness.client.on_publish = upload
    first = request(media=[photo])
    await harness.pipeline.process(Attempt(first, 1))
    other = request(media=[photo])  # another distribution of the same media: its own uploads
    await harness.pipeline.process(Attempt(other, 1))
    assert recalled == [None, None]
    harness.ledger.put(Delivery(first.distribution_id, Status.RETRYING, 1, None))  # a retry tier brings it back
    await harness.pipeline.process(Attempt(first, 2))
    assert recalled[-1] == UploadRecord("x-1", "ready")


async def test_processing_failures_recorded_by_the_adapter_are_counted() -> None:
    source = FakeMediaSource()
    clip = source.add(CLIP, kind=MediaKind.VIDEO, content_type="video/mp4")
    harness = Harness.build(media_source=source)

    async def upload(post: PreparedPost, media: MediaContext | None) -> None:
        assert media is not None
        await media.memory.remember(clip, UploadRecord("x-9", FAILED_STATE))

    harness.client.on_publish = upload
    await harness.pipeline.process(Attempt(request(media=[clip]), 1))
    assert harness.metric("herald_media_processing_failures_total") == 1


async def test_text_posts_get_no_media_context() -> None:
    harness = Harness.build(media_source=FakeMediaSource())
    await harness.pipeline.process(Attempt(request(), 1))
    [(_, post, media)] = harness.client.calls
    assert (post.media, media) == ((), None)


async def test_media_without_an_object_store_waits_for_an_operator() -> None:
    """No media source: the X adapter answers CONFIGURATION (see test_x_media), which holds the post, no attempt
    used; here the fake client stands in with that answer."""
    photo = FakeMediaSource().add(b"photo")
    configuration = PlatformError(ErrorClass.CONFIGURATION, "a post with media needs a media context")
    harness = Harness.build(client=FakeClient(creates=[configuration]))
    decision = await harness.pipeline.process(Attempt(request(media=[photo], distribution_id=uuid.uuid4()), 1))
    [(_, _, media)] = harness.client.calls
    assert media is None
    assert isinstance(decision, Retry)
    assert harness.metric("herald_configuration_errors_total", operation="create") == 1


async def test_the_object_store_comes_from_herald_objectstore_settings_or_is_absent() -> None:
    assert open_object_store({}) is None
    env = {
        "HERALD_OBJECTSTORE_ENDPOINT_URL": "http://127.0.0.1:8333",
        "HERALD_OBJECTSTORE_ACCESS_KEY_ID": "key",
        "HERALD_OBJECTSTORE_SECRET_ACCESS_KEY": "secret",
    }
    store = open_object_store(env)
    assert store is not None
    try:
        assert store.settings.bucket == "herald-media"
    finally:
        await store.aclose()
    with pytest.raises(ObjectStoreConfigError, match="HERALD_OBJECTSTORE_ACCESS_KEY_ID"):
        open_object_store({"HERALD_OBJECTSTORE_ENDPOINT_URL": "http://127.0.0.1:8333"})
