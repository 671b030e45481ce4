"""The media API while the object store is away: 503 with ``Retry-After`` (never a 500 or a dropped connection),
for direct and resumable uploads; a resumable upload resumes from the offset it had reached.

A second media instance shares the harness's database but reaches the real object store through a transport that
refuses to connect while ``away`` is set (what the store's client sees when SeaweedFS is down).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from herald.objectstore import ObjectStore
from tests.media import samples
from tests.media.conftest import Harness, Switch, start_media
from tests.support.servers import reserve_port

MIB = 1024 * 1024


@dataclass
class Flaky:
    url: str
    switch: Switch


@pytest.fixture
def flaky(harness: Harness) -> Iterator[Flaky]:
    switch = Switch(httpx.AsyncHTTPTransport())
    store = ObjectStore(harness.store.settings, client=httpx.AsyncClient(transport=switch, timeout=10))
    settings = harness.settings.model_copy(update={"http_port": reserve_port()})
    with start_media(settings, store) as url:
        yield Flaky(url, switch)


def assert_unavailable(answer: httpx.Response) -> None:
    assert answer.status_code == 503, answer.text
    assert int(answer.headers["retry-after"]) > 0
    assert "store" in answer.json()["detail"]


async def test_a_direct_upload_answers_503_while_the_store_is_away_and_works_once_it_is_back(
    harness: Harness, flaky: Flaky
) -> None:
    _, team = await harness.team()
    kept = await harness.client.post(
        f"{flaky.url}/v1/media", headers=team, files={"file": ("kept.png", samples.image("PNG"))}
    )
    assert kept.status_code == 201, kept.text
    media_id = kept.json()["id"]

    flaky.switch.away = True
    photo = samples.image("JPEG", colour=(1, 2, 3))
    assert_unavailable(
        await harness.client.post(f"{flaky.url}/v1/media", headers=team, files={"file": ("a.jpg", photo)})
    )
    listed = await harness.client.get(f"{flaky.url}/v1/media", headers=team)  # metadata only: still answers
    assert [item["id"] for item in listed.json()["items"]] == [media_id]
    # A delete forgets the item; the object it leaves behind is the cleanup's to remove, so no 503 is needed.
    assert (await harness.client.delete(f"{flaky.url}/v1/media/{media_id}", headers=team)).status_code == 204

    flaky.switch.away = False
    again = await harness.client.post(f"{flaky.url}/v1/media", headers=team, files={"file": ("a.jpg", photo)})
    assert again.status_code == 201, again.text


async def test_a_resumable_upload_answers_503_then_resumes_from_the_offset_reached(
    harness: Harness, flaky: Flaky
) -> None:
    _, team = await harness.team()
    data = samples.mp4(640, 360, timescale=600, duration=600 * 5, mdat_bytes=7 * MIB, salt=uuid.uuid4().bytes)
    created = await harness.client.post(f"{flaky.url}/v1/uploads", headers=team, json={"size_bytes": len(data)})
    assert created.status_code == 201, created.text
    url = f"{flaky.url}/v1/uploads/{created.json()['id']}"

    async def put(start: int, end: int) -> httpx.Response:
        headers = {**team, "Content-Range": f"bytes {start}-{end}/{len(data)}"}
        return await harness.client.put(url, headers=headers, content=data[start : end + 1])

    async def reached() -> int:
        answer = await harness.client.head(url, headers=team)
        assert answer.status_code == 200
        return int(answer.headers["upload-offset"])

    assert (await put(0, 6 * MIB - 1)).status_code == 200
    flaky.switch.away = True
    assert_unavailable(await put(6 * MIB, len(data) - 1))  # the last chunk: part and completion both need the store
    assert await reached() == 6 * MIB

    flaky.switch.away = False
    last = await put(await reached(), len(data) - 1)
    assert last.status_code == 201, last.text
    assert last.json()["kind"] == "video"
