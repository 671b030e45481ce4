"""Posts with media on a queue and a window of their own (``herald.publishing.topology``): a text post is published
while slow uploads fill the media window, on the real broker and database against the X sandbox."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from herald.publishing.app import build
from tests.publishing.conftest import Stack
from tests.support.media import FakeMediaSource

SUCCEEDED = "com.herald.publish.succeeded"
UPLOAD_SECONDS = 1.0
"""Each upload call of the images waits this long in the sandbox."""
JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 40


@pytest.fixture
async def narrow(infra: Stack) -> AsyncIterator[tuple[Stack, FakeMediaSource]]:
    """``infra`` plus a publisher with one slot for text posts and one for posts with media."""
    source = FakeMediaSource()
    x = infra.settings.x.model_copy(update={"timeout_seconds": UPLOAD_SECONDS + 3})
    settings = infra.settings.model_copy(update={"prefetch": 1, "media_prefetch": 1, "x": x})
    runtime, _ = build(settings, source)
    async with runtime.lifespan():
        yield infra, source


async def test_a_text_post_is_published_while_uploads_fill_the_media_window(
    narrow: tuple[Stack, FakeMediaSource],
) -> None:
    # With one window for both, the text post would wait for both images' uploads (three calls of 1 s each).
    stack, source = narrow
    await stack.arm(kind="latency", operation="upload", latency_ms=int(UPLOAD_SECONDS * 1000), count=20)
    images = [stack.request(f"An image post {i}", media=[source.add(JPEG)]) for i in range(2)]
    for image in images:
        await stack.send(image)
    await asyncio.sleep(0.3)  # the first image's upload is under way
    text = stack.request()
    await stack.send(text)
    [(_, published, _)] = await stack.outcomes_for(text.distribution_id, SUCCEEDED, timeout=UPLOAD_SECONDS * 2.5)
    assert published["attempt"] == 1
    for image in images:
        [(_, payload, _)] = await stack.outcomes_for(image.distribution_id, SUCCEEDED, timeout=30)
        assert payload["reconciled"] is False
    posts = {p["text"]: p for p in await stack.posts()}
    assert all(len(posts[image.text]["media_ids"]) == 1 for image in images)
    assert "media_ids" not in posts[text.text] or not posts[text.text]["media_ids"]
