"""Resumable uploads end to end: chunks by Content-Range, an interrupted upload resumed from HEAD's offset, the
S3 multipart upload behind it (parts of 5 MiB and more, small chunks waiting in the store), completion into an item."""

from __future__ import annotations

import asyncio
import hashlib
import socket
import uuid
from urllib.parse import urlsplit

import httpx

from tests.media import samples
from tests.media.conftest import Harness

MIB = 1024 * 1024


async def create(harness: Harness, team: dict[str, str], data: bytes, **extra: object) -> dict[str, object]:
    answer = await harness.client.post(
        f"{harness.url}/v1/uploads", headers=team, json={"size_bytes": len(data), **extra}
    )
    assert answer.status_code == 201, answer.text
    assert answer.headers["location"] == answer.json()["upload_url"]
    return dict(answer.json())


async def put(harness: Harness, team: dict[str, str], upload: dict[str, object], data: bytes, start: int, end: int):  # type: ignore[no-untyped-def]
    headers = {**team, "Content-Range": f"bytes {start}-{end}/{len(data)}"}
    return await harness.client.put(str(upload["upload_url"]), headers=headers, content=data[start : end + 1])


async def offset(harness: Harness, team: dict[str, str], upload: dict[str, object]) -> int:
    answer = await harness.client.head(str(upload["upload_url"]), headers=team)
    assert answer.status_code == 200
    assert answer.headers["upload-length"] is not None
    return int(answer.headers["upload-offset"])


def interrupted_put(url: str, headers: dict[str, str], declared: int, sent: bytes) -> None:
    """Send a PUT announcing ``declared`` body bytes, send only ``sent``, and hang up (a dropped connection)."""
    parts = urlsplit(url)
    request = (
        f"PUT {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        + f"Content-Length: {declared}\r\n\r\n"
    ).encode()
    with socket.create_connection((parts.hostname, parts.port)) as conn:
        conn.sendall(request + sent)


async def test_an_interrupted_upload_resumes_from_the_offset_head_reports(harness: Harness) -> None:
    team_id, team = await harness.team()
    data = samples.mp4(1920, 1080, timescale=600, duration=600 * 30, mdat_bytes=11 * MIB, salt=uuid.uuid4().bytes)
    upload = await create(harness, team, data, sha256=hashlib.sha256(data).hexdigest(), filename="talk.mp4")
    assert upload["offset"] == 0

    first = await put(harness, team, upload, data, 0, 1 * MIB - 1)  # small: waits in the store
    assert first.status_code == 200, first.text
    assert first.headers["upload-offset"] == str(1 * MIB)
    second = await put(harness, team, upload, data, 1 * MIB, 6 * MIB - 1)  # fills the first part (6 MiB)
    assert second.json()["offset"] == 6 * MIB
    [row] = await harness.rows("SELECT parts, pending FROM uploads WHERE id = :i", i=uuid.UUID(str(upload["id"])))
    assert len(row["parts"]) == 1
    assert row["pending"] == []

    # The client drops the connection in the middle of the next chunk: nothing of it counts.
    interrupted_put(
        str(upload["upload_url"]),
        {**team, "Content-Range": f"bytes {6 * MIB}-{8 * MIB - 1}/{len(data)}"},
        2 * MIB,
        data[6 * MIB : 7 * MIB],
    )
    resume_at = await offset(harness, team, upload)
    assert resume_at == 6 * MIB

    wrong = await put(harness, team, upload, data, 7 * MIB, 8 * MIB - 1)
    assert wrong.status_code == 409
    assert wrong.json()["offset"] == 6 * MIB
    assert wrong.headers["upload-offset"] == str(6 * MIB)

    assert (await put(harness, team, upload, data, resume_at, 9 * MIB - 1)).status_code == 200
    last = await put(harness, team, upload, data, 9 * MIB, len(data) - 1)
    assert last.status_code == 201, last.text
    item = last.json()
    assert (item["kind"], item["width"], item["height"], item["duration_ms"]) == ("video", 1920, 1080, 30_000)
    assert item["sha256"] == hashlib.sha256(data).hexdigest()
    assert item["filename"] == "talk.mp4"
    key = f"teams/{team_id}/media/{item['id']}"
    stored = await harness.store.head(key)
    assert stored is not None
    assert stored.size == len(data)
    assert [o.key async for o in harness.store.list(f"teams/{team_id}/uploads/")] == []  # buffered chunks gone
    assert (await harness.client.head(str(upload["upload_url"]), headers=team)).status_code == 404


async def test_a_small_file_in_one_chunk_and_its_twin_upload(harness: Harness) -> None:
    _, team = await harness.team()
    data = samples.image("JPEG", 33, 22, colour=(12, 200, 3))
    upload = await create(harness, team, data)
    done = await put(harness, team, upload, data, 0, len(data) - 1)
    assert done.status_code == 201, done.text
    twin = await create(harness, team, data)
    again = await harness.client.put(
        str(twin["upload_url"]), headers={**team, "Upload-Offset": "0"}, content=data
    )  # Upload-Offset instead of Content-Range
    assert again.status_code == 200, again.text
    assert again.json()["id"] == done.json()["id"]


async def test_a_wrong_checksum_refuses_the_upload(harness: Harness) -> None:
    team_id, team = await harness.team()
    data = samples.image("PNG", 20, 20, colour=(250, 1, 1))
    upload = await create(harness, team, data, sha256="0" * 64)
    refused = await put(harness, team, upload, data, 0, len(data) - 1)
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["body", "sha256"]
    assert [o.key async for o in harness.store.list(f"teams/{team_id}/")] == []


async def test_the_first_chunk_of_an_unsupported_file_is_refused_before_the_rest_is_sent(harness: Harness) -> None:
    _, team = await harness.team()
    data = b"\x1a\x45\xdf\xa3" + b"\0" * 4000
    upload = await create(harness, team, data)
    refused = await put(harness, team, upload, data, 0, 999)
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["detected"] == "a Matroska/WebM video"


async def test_declaring_too_much_is_a_413_and_bad_ranges_are_422s(harness: Harness) -> None:
    _, team = await harness.team()
    too_big = await harness.client.post(
        f"{harness.url}/v1/uploads", headers=team, json={"size_bytes": harness.settings.max_video_bytes + 1}
    )
    assert too_big.status_code == 413
    zero = await harness.client.post(f"{harness.url}/v1/uploads", headers=team, json={"size_bytes": 0})
    assert zero.status_code == 422
    assert zero.json()["detail"][0]["loc"] == ["body", "size_bytes"]
    boolean = await harness.client.post(f"{harness.url}/v1/uploads", headers=team, json={"size_bytes": True})
    assert boolean.status_code == 422  # not read as 1 (the OpenAPI document says integer)
    assert boolean.json()["detail"][0]["loc"] == ["body", "size_bytes"]
    data = samples.image("PNG", 10, 10, colour=(1, 99, 1))
    upload = await create(harness, team, data)
    url = str(upload["upload_url"])
    for header, problem in [
        ({"Content-Range": "bytes=0-10"}, "Content-Range"),
        ({"Content-Range": f"bytes 0-9/{len(data) + 1}"}, "Content-Range"),
        ({"Content-Range": f"bytes 0-99/{len(data)}"}, "Content-Range"),
        ({}, "Content-Range"),
        ({"Upload-Offset": "minus one"}, "Upload-Offset"),
    ]:
        answer = await harness.client.put(url, headers={**team, **header}, content=data[:10])
        assert answer.status_code == 422, (header, answer.text)
        assert answer.json()["detail"][0]["loc"] == ["header", problem]
    image_too_big = await create(harness, team, data + b"\0" * harness.settings.max_image_bytes)
    over = await harness.client.put(
        str(image_too_big["upload_url"]), headers={**team, "Upload-Offset": "0"}, content=data
    )
    assert over.status_code == 413
    assert "image limit" in over.json()["detail"]


async def test_another_teams_upload_is_not_found(harness: Harness) -> None:
    _, team_a = await harness.team()
    _, team_b = await harness.team()
    data = samples.image("PNG", 10, 10, colour=(2, 99, 1))
    upload = await create(harness, team_a, data)
    url = str(upload["upload_url"])
    assert (await harness.client.head(url, headers=team_b)).status_code == 404
    assert (await harness.client.get(url, headers=team_b)).status_code == 404
    put_b = await harness.client.put(url, headers={**team_b, "Upload-Offset": "0"}, content=data)
    assert put_b.status_code == 404
    assert (await harness.client.get(url, headers=team_a)).json()["offset"] == 0


async def test_a_chunk_over_the_chunk_limit_is_a_413(harness: Harness) -> None:
    _, team = await harness.team()
    data = samples.mp4(mdat_bytes=harness.settings.max_chunk_bytes + MIB, salt=uuid.uuid4().bytes)
    upload = await create(harness, team, data)
    answer = await put(harness, team, upload, data, 0, harness.settings.max_chunk_bytes)
    assert answer.status_code == 413
    assert isinstance(answer, httpx.Response)


async def test_the_same_chunk_sent_five_times_at_once_is_written_once(harness: Harness) -> None:
    _, team = await harness.team()
    data = samples.mp4(mdat_bytes=3 * MIB, salt=uuid.uuid4().bytes)
    upload = await create(harness, team, data)
    answers = await asyncio.gather(*(put(harness, team, upload, data, 0, MIB - 1) for _ in range(5)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200, 409, 409, 409, 409], [a.text for a in answers]
    assert await offset(harness, team, upload) == MIB
    [row] = await harness.rows("SELECT pending FROM uploads WHERE id = :i", i=uuid.UUID(str(upload["id"])))
    assert len(row["pending"]) == 1
    done = await put(harness, team, upload, data, MIB, len(data) - 1)
    assert done.status_code == 201, done.text
    assert done.json()["size_bytes"] == len(data)
