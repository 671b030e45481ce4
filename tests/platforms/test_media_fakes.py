"""The media fakes the client tests rely on behave like the seams they stand in for."""

from __future__ import annotations

import httpx

from herald.platforms.base import MediaContext, MediaSource, UploadMemory, UploadRecord
from tests.support.media import FakeMediaSource, FakeUploadMemory, served_media


async def test_the_fakes_satisfy_the_protocols_and_serve_urls_until_they_expire() -> None:
    source = FakeMediaSource()
    memory = FakeUploadMemory()
    context = MediaContext(source=source, memory=memory)
    assert isinstance(context.source, FakeMediaSource)
    typed_source: MediaSource = source
    typed_memory: UploadMemory = memory
    reference = source.add(b"\xff\xd8\xff" + b"x" * 10)
    chunks = [chunk async for chunk in typed_source.stream(reference, chunk_bytes=4)]
    assert b"".join(chunks) == source.objects[reference.storage_key]
    assert [len(chunk) for chunk in chunks] == [4, 4, 4, 1]
    assert await typed_memory.recall(reference) is None
    await typed_memory.remember(reference, UploadRecord(platform_media_id="m1", state="ready"))
    assert (await typed_memory.recall(reference)) == UploadRecord(platform_media_id="m1", state="ready")
    with served_media(source):
        async with httpx.AsyncClient() as http:
            fresh = await http.get(typed_source.presigned_url(reference, expires_in_seconds=60))
            stale = await http.get(typed_source.presigned_url(reference, expires_in_seconds=-1))
            forged = await http.get(f"{source.base_url}/objects/forged")
    assert fresh.status_code == 200
    assert fresh.content == source.objects[reference.storage_key]
    assert stale.status_code == 403
    assert forged.status_code == 403
