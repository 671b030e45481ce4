"""Every ``ObjectStore`` call against a real SeaweedFS S3 server (``tests/support/objectstore.py``)."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import os
from dataclasses import replace
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import pytest

from herald.objectstore import (
    ObjectNotFound,
    ObjectStore,
    ObjectStoreError,
    ObjectStoreMediaSource,
    ObjectStoreSettings,
)
from herald.platforms.base import MediaSource
from tests.support.media import media_reference
from tests.support.objectstore import empty_and_delete_bucket

MIB = 1024 * 1024


async def test_ensure_bucket_is_idempotent(objectstore_settings: ObjectStoreSettings) -> None:
    settings = replace(objectstore_settings, bucket=f"ensure-{os.urandom(6).hex()}")
    async with ObjectStore(settings) as store:
        assert not await store.bucket_exists()
        await asyncio.gather(store.ensure_bucket(), store.ensure_bucket())  # two processes starting at once
        await store.ensure_bucket()
        assert await store.bucket_exists()
        await empty_and_delete_bucket(store)
        assert not await store.bucket_exists()


async def test_put_head_get_range_delete(objectstore: ObjectStore) -> None:
    data = os.urandom(100_000)
    etag = await objectstore.put("teams/t/media/a", data, "image/jpeg")
    assert etag == hashlib.md5(data).hexdigest()  # S3's ETag of a one-part object: its MD5

    info = await objectstore.head("teams/t/media/a")
    assert info is not None
    assert (info.key, info.size, info.etag, info.content_type) == ("teams/t/media/a", len(data), etag, "image/jpeg")
    assert info.last_modified is not None
    assert abs(info.last_modified - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=5)

    assert await objectstore.get_range("teams/t/media/a", 0, 9) == data[:10]
    assert await objectstore.get_range("teams/t/media/a", 99_990, 99_999) == data[-10:]
    assert await objectstore.get_range("teams/t/media/a", 500, 500) == data[500:501]

    await objectstore.delete("teams/t/media/a")
    assert await objectstore.head("teams/t/media/a") is None
    await objectstore.delete("teams/t/media/a")  # deleting what is gone is not an error


async def test_put_replaces_and_keys_with_unusual_characters_round_trip(objectstore: ObjectStore) -> None:
    key = "teams/x/uploads/ü n+i=c&o?d#e%20/part 1"
    await objectstore.put(key, b"first", "application/octet-stream")
    await objectstore.put(key, b"second", "application/octet-stream")
    assert await objectstore.get_range(key, 0, 5) == b"second"
    assert [info.key async for info in objectstore.list("teams/x/")] == [key]


async def test_stream_yields_exact_chunks(objectstore: ObjectStore) -> None:
    data = os.urandom(3 * MIB + 17)
    await objectstore.put("v", data, "video/mp4")
    chunks = [chunk async for chunk in objectstore.stream("v", MIB)]
    assert [len(c) for c in chunks] == [MIB, MIB, MIB, 17]
    assert b"".join(chunks) == data
    small = [chunk async for chunk in objectstore.stream("v", 1000)]
    assert all(len(c) == 1000 for c in small[:-1])
    assert b"".join(small) == data


async def test_missing_objects(objectstore: ObjectStore) -> None:
    assert await objectstore.head("nope") is None
    with pytest.raises(ObjectNotFound, match="nope"):
        await objectstore.get_range("nope", 0, 1)
    with pytest.raises(ObjectNotFound, match="nope"):
        async for _ in objectstore.stream("nope", 10):
            pass


async def test_list_pages_through_every_object_under_a_prefix(objectstore: ObjectStore) -> None:
    keys = [f"teams/a/media/{i:03d}" for i in range(23)]
    await asyncio.gather(*(objectstore.put(k, k.encode(), "text/plain") for k in keys))
    await objectstore.put("teams/b/media/000", b"other team", "text/plain")

    listed = [info async for info in objectstore.list("teams/a/", page_size=5)]
    assert [info.key for info in listed] == keys  # 5 pages, in key order, nothing from teams/b
    assert all(info.size == len(info.key) and info.etag for info in listed)
    assert [info.key async for info in objectstore.list("teams/a/media/02", page_size=1)] == keys[20:]
    assert [info async for info in objectstore.list("teams/none/")] == []


async def test_multipart_upload_completes_in_part_order(objectstore: ObjectStore) -> None:
    parts_data = [os.urandom(5 * MIB), os.urandom(5 * MIB), os.urandom(1234)]
    upload_id = await objectstore.create_multipart("big", "video/mp4")
    # sent out of order, as resumed uploads may be; completion orders them by part number
    etags = {n: await objectstore.upload_part("big", upload_id, n, parts_data[n - 1]) for n in (3, 1, 2)}
    in_progress = await objectstore.list_multipart_uploads("")
    assert [(u.key, u.upload_id) for u in in_progress] == [("big", upload_id)]
    assert in_progress[0].initiated is not None

    etag = await objectstore.complete_multipart("big", upload_id, list(etags.items()))
    assert etag.endswith("-3")
    info = await objectstore.head("big")
    assert info is not None
    assert (info.size, info.content_type) == (sum(map(len, parts_data)), "video/mp4")
    assert b"".join([c async for c in objectstore.stream("big", MIB)]) == b"".join(parts_data)
    assert await objectstore.list_multipart_uploads("") == []


async def test_multipart_abort_and_listing_by_prefix(objectstore: ObjectStore) -> None:
    kept = await objectstore.create_multipart("teams/a/uploads/1/object", "image/png")
    dropped = await objectstore.create_multipart("teams/a/uploads/2/object", "image/png")
    other = await objectstore.create_multipart("teams/b/uploads/3/object", "image/png")
    await objectstore.upload_part("teams/a/uploads/2/object", dropped, 1, b"partial")

    listed = await objectstore.list_multipart_uploads("teams/a/")
    assert sorted(u.upload_id for u in listed) == sorted([kept, dropped])

    await objectstore.abort_multipart("teams/a/uploads/2/object", dropped)
    assert [u.upload_id for u in await objectstore.list_multipart_uploads("teams/a/")] == [kept]
    await objectstore.abort_multipart("teams/a/uploads/2/object", dropped)  # already gone: not an error
    with pytest.raises(ObjectNotFound):
        await objectstore.upload_part("teams/a/uploads/2/object", dropped, 2, b"more")
    assert await objectstore.head("teams/a/uploads/2/object") is None
    assert [u.upload_id for u in await objectstore.list_multipart_uploads("teams/b/")] == [other]


async def test_completing_with_a_wrong_etag_fails(objectstore: ObjectStore) -> None:
    upload_id = await objectstore.create_multipart("k", "image/png")
    await objectstore.upload_part("k", upload_id, 1, b"data")
    with pytest.raises(ObjectStoreError):
        await objectstore.complete_multipart("k", upload_id, [(1, "0" * 32)])
    assert await objectstore.head("k") is None


async def test_presigned_get_is_fetched_by_a_plain_client(objectstore: ObjectStore) -> None:
    data = os.urandom(50_000)
    await objectstore.put("teams/t/media/photo", data, "image/jpeg")
    url = objectstore.presign_get("teams/t/media/photo", 60)
    async with httpx.AsyncClient() as client:
        response = await client.get(url)
    assert response.status_code == 200
    assert response.content == data
    assert objectstore.settings.secret_access_key not in url


def _with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.update(changes)
    return urlunsplit(parts._replace(query=urlencode(query)))


async def test_presigned_get_is_refused_when_tampered_or_expired(objectstore: ObjectStore) -> None:
    await objectstore.put("teams/t/media/photo", b"secret bytes", "image/jpeg")
    url = objectstore.presign_get("teams/t/media/photo", 60)
    signature = dict(parse_qsl(urlsplit(url).query))["X-Amz-Signature"]
    tampered_signature = _with_query(url, **{"X-Amz-Signature": ("0" if signature[0] != "0" else "1") + signature[1:]})
    longer = _with_query(url, **{"X-Amz-Expires": "3600"})  # the expiry is signed too
    other_key = url.replace("/photo?", "/other?")

    # made two minutes ago, valid one second: expired
    past = ObjectStore(objectstore.settings, clock=lambda: dt.datetime.now(dt.UTC) - dt.timedelta(minutes=2))
    expired = past.presign_get("teams/t/media/photo", 1)
    async with httpx.AsyncClient() as client:
        for refused in (tampered_signature, longer, other_key, expired):
            response = await client.get(refused)
            assert response.status_code == 403, refused
            assert b"secret bytes" not in response.content
        assert (await client.get(url)).status_code == 200


async def test_wrong_credentials_are_refused_without_leaking_them(objectstore: ObjectStore) -> None:
    wrong = replace(objectstore.settings, secret_access_key="not-the-secret-xyz")
    async with ObjectStore(wrong) as store:
        with pytest.raises(ObjectStoreError) as caught:
            await store.put("k", b"x", "text/plain")
    assert caught.value.status_code == 403
    message = str(caught.value)
    assert "put k" in message
    assert "not-the-secret-xyz" not in message
    assert "Signature=" not in message
    assert objectstore.settings.secret_access_key not in message


async def test_unreachable_store_is_an_object_store_error(objectstore_settings: ObjectStoreSettings) -> None:
    from tests.support.servers import closed_port  # noqa: PLC0415

    with closed_port() as port:
        settings = replace(objectstore_settings, endpoint_url=f"http://127.0.0.1:{port}", timeout_seconds=2)
        async with ObjectStore(settings) as store:
            with pytest.raises(ObjectStoreError, match="unreachable") as caught:
                await store.head("k")
    assert caught.value.status_code is None
    assert objectstore_settings.secret_access_key not in str(caught.value)


async def test_media_source_streams_and_presigns_a_media_reference(objectstore: ObjectStore) -> None:
    data = os.urandom(2 * MIB + 5)
    reference = media_reference(data)
    await objectstore.put(reference.storage_key, data, reference.content_type)
    source: MediaSource = ObjectStoreMediaSource(objectstore)  # the platforms' seam, satisfied structurally

    chunks = [chunk async for chunk in source.stream(reference, chunk_bytes=MIB)]
    assert [len(c) for c in chunks] == [MIB, MIB, 5]
    assert hashlib.sha256(b"".join(chunks)).hexdigest() == reference.sha256

    url = source.presigned_url(reference, expires_in_seconds=30)
    async with httpx.AsyncClient() as client:
        assert (await client.get(url)).content == data
