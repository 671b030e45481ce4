"""The LinkedIn sandbox's Images and Videos APIs: owners, single-use expiring upload URLs, byte ranges, ETags,
finalize, status transitions, processing failures, and posts naming assets that are not usable."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from herald.sandboxes.linkedin.app import create_app
from herald.sandboxes.linkedin.config import LinkedInSandboxConfig
from tests.platforms.test_linkedin_support import (
    BASE_SCOPES,
    MEMBER,
    MEMBER_URN,
    ORGANIZATION_SCOPES,
    ORGANIZATION_URN,
    mint,
    post_body,
    rest_headers,
)
from tests.support.eventually import eventually
from tests.support.servers import serve

PART = 1000


@pytest.fixture(scope="module")
def sandbox_url() -> Iterator[str]:
    config = LinkedInSandboxConfig(
        video_part_bytes=PART,
        image_processing=dt.timedelta(milliseconds=100),
        video_processing=dt.timedelta(milliseconds=100),
    )
    with serve(create_app(config)) as url:
        yield url


@pytest.fixture
async def api(sandbox_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sandbox_url) as client:
        (await client.post("/_sandbox/reset")).raise_for_status()
        yield client


@pytest.fixture
async def token(api: httpx.AsyncClient) -> str:
    return str((await mint(api, BASE_SCOPES))["access_token"])


async def initialize(
    api: httpx.AsyncClient, token: str, kind: str, owner: str = MEMBER_URN, **extra: Any
) -> httpx.Response:
    request = {"owner": owner, **extra}
    return await api.post(
        f"/rest/{kind}s",
        params={"action": "initializeUpload"},
        json={"initializeUploadRequest": request},
        headers=rest_headers(token),
    )


async def status(api: httpx.AsyncClient, token: str, urn: str) -> dict[str, Any]:
    kind = urn.split(":")[2]
    response = await api.get(f"/rest/{kind}s/{urn}", headers=rest_headers(token))
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


async def finalize(api: httpx.AsyncClient, token: str, video: str, upload_token: str, ids: list[str]) -> httpx.Response:
    body = {"finalizeUploadRequest": {"video": video, "uploadToken": upload_token, "uploadedPartIds": ids}}
    return await api.post("/rest/videos", params={"action": "finalizeUpload"}, json=body, headers=rest_headers(token))


async def available_image(api: httpx.AsyncClient, token: str, owner: str = MEMBER_URN) -> str:
    value = (await initialize(api, token, "image", owner)).json()["value"]
    assert (await api.put(value["uploadUrl"], content=b"\x89PNG" + b"0" * 100)).status_code == 201
    urn = str(value["image"])

    async def is_available() -> bool:
        return bool((await status(api, token, urn))["status"] == "AVAILABLE")

    await eventually(is_available)
    return urn


async def test_image_upload_moves_from_waiting_to_processing_to_available(api: httpx.AsyncClient, token: str) -> None:
    answer = await initialize(api, token, "image")
    assert answer.status_code == 200
    value = answer.json()["value"]
    assert set(value) == {"uploadUrlExpiresAt", "uploadUrl", "image"}
    assert value["image"].startswith("urn:li:image:")
    assert value["uploadUrlExpiresAt"] > dt.datetime.now(dt.UTC).timestamp() * 1000
    assert (await status(api, token, value["image"]))["status"] == "WAITING_UPLOAD"

    put = await api.put(value["uploadUrl"], content=b"\xff\xd8\xff" + b"1" * 50)
    assert put.status_code == 201
    assert (await status(api, token, value["image"]))["status"] == "PROCESSING"

    async def is_available() -> bool:
        return bool((await status(api, token, value["image"]))["status"] == "AVAILABLE")

    await eventually(is_available)
    entity = await status(api, token, value["image"])
    assert entity["owner"] == MEMBER_URN
    assert entity["downloadUrl"]


async def test_the_owner_must_be_the_tokens_member_or_a_page_it_may_post_for(api: httpx.AsyncClient) -> None:
    member_only = str((await mint(api, BASE_SCOPES))["access_token"])
    organization = str((await mint(api, ORGANIZATION_SCOPES))["access_token"])
    other = await initialize(api, member_only, "image", "urn:li:person:someone-else")
    assert other.status_code == 403
    assert other.json()["code"] == "ACCESS_DENIED"
    assert (await initialize(api, member_only, "image", ORGANIZATION_URN)).status_code == 403
    assert (await initialize(api, organization, "image", ORGANIZATION_URN)).status_code == 200
    bad = await initialize(api, member_only, "image", "not-a-urn")
    assert bad.status_code == 422
    assert "/initializeUploadRequest/owner" in bad.json()["message"]


async def test_an_upload_url_takes_one_put_and_expires(api: httpx.AsyncClient, token: str) -> None:
    first = (await initialize(api, token, "image")).json()["value"]
    assert (await api.put(first["uploadUrl"], content=b"abc")).status_code == 201
    again = await api.put(first["uploadUrl"], content=b"abc")
    assert again.status_code == 400
    assert "already been used" in again.json()["message"]

    second = (await initialize(api, token, "image")).json()["value"]
    (await api.post(f"/_sandbox/linkedin/media/{second['image']}/expire")).raise_for_status()
    late = await api.put(second["uploadUrl"], content=b"abc")
    assert late.status_code == 400
    assert "expired" in late.json()["message"]
    assert (await status(api, token, second["image"]))["status"] == "WAITING_UPLOAD"
    assert (await api.put("/dms-uploads/forged", content=b"abc")).status_code == 404


async def test_a_video_needs_every_range_exactly_and_its_etags_in_order(api: httpx.AsyncClient, token: str) -> None:
    size = 2 * PART + 10
    value = (
        await initialize(api, token, "video", fileSizeBytes=size, uploadCaptions=False, uploadThumbnail=False)
    ).json()["value"]
    instructions = value["uploadInstructions"]
    assert [(i["firstByte"], i["lastByte"]) for i in instructions] == [(0, 999), (1000, 1999), (2000, 2009)]
    assert value["uploadToken"]
    assert value["uploadUrlsExpireAt"] > 0
    data = bytes(range(256)) * 8
    wrong = await api.put(instructions[0]["uploadUrl"], content=data[:999])
    assert wrong.status_code == 400
    assert "bytes 0-999" in wrong.json()["message"]

    etags = []
    for instruction in instructions[:2]:
        put = await api.put(
            instruction["uploadUrl"], content=data[instruction["firstByte"] : instruction["lastByte"] + 1]
        )
        assert put.status_code == 200
        etags.append(put.headers["etag"])
    early = await finalize(api, token, value["video"], value["uploadToken"], etags)
    assert early.status_code == 400
    assert "2000-2009" in early.json()["message"]
    last = await api.put(instructions[2]["uploadUrl"], content=b"z" * 10)
    etags.append(last.headers["etag"])

    assert (await finalize(api, token, value["video"], "wrong", etags)).status_code == 400
    assert (await finalize(api, token, value["video"], value["uploadToken"], list(reversed(etags)))).status_code == 400
    assert (await status(api, token, value["video"]))["status"] == "WAITING_UPLOAD"
    done = await finalize(api, token, value["video"], value["uploadToken"], etags)
    assert done.status_code == 200
    assert (await status(api, token, value["video"]))["status"] == "PROCESSING"

    async def is_available() -> bool:
        return bool((await status(api, token, value["video"]))["status"] == "AVAILABLE")

    await eventually(is_available)
    again = await finalize(api, token, value["video"], value["uploadToken"], etags)
    assert again.status_code == 400


async def test_video_initialize_needs_a_positive_file_size(api: httpx.AsyncClient, token: str) -> None:
    missing = await initialize(api, token, "video")
    assert missing.status_code == 422
    assert "/initializeUploadRequest/fileSizeBytes" in missing.json()["message"]
    assert (await initialize(api, token, "video", fileSizeBytes=0)).status_code == 422


async def test_a_processing_fault_ends_in_processing_failed_with_its_reason(api: httpx.AsyncClient, token: str) -> None:
    fault = {"kind": "error", "operation": "processing", "account": MEMBER, "error": "Image is corrupt"}
    (await api.post("/_sandbox/faults", json=fault)).raise_for_status()
    value = (await initialize(api, token, "image")).json()["value"]
    await api.put(value["uploadUrl"], content=b"junk")

    async def failed() -> bool:
        return bool((await status(api, token, value["image"]))["status"] == "PROCESSING_FAILED")

    await eventually(failed)
    assert (await status(api, token, value["image"]))["processingFailureReason"] == "Image is corrupt"


async def test_upload_faults_answer_the_upload_calls(api: httpx.AsyncClient, token: str) -> None:
    fault = {"kind": "error", "operation": "upload", "account": MEMBER, "error": "service_unavailable", "count": 2}
    (await api.post("/_sandbox/faults", json=fault)).raise_for_status()
    assert (await initialize(api, token, "image")).status_code == 503
    value = (await initialize(api, token, "image")).json()  # the second fault use is still armed: 503 too
    assert value["status"] == 503
    value = (await initialize(api, token, "image")).json()["value"]
    (await api.post("/_sandbox/faults", json={**fault, "count": 1})).raise_for_status()
    assert (await api.put(value["uploadUrl"], content=b"x")).status_code == 503
    assert (await api.put(value["uploadUrl"], content=b"x")).status_code == 201  # a refused PUT did not use the URL


async def test_posts_refuse_unknown_unprocessed_and_foreign_assets(api: httpx.AsyncClient) -> None:
    token = str((await mint(api, ORGANIZATION_SCOPES))["access_token"])
    headers = rest_headers(token)
    unknown = await api.post(
        "/rest/posts", json=post_body("a", content={"media": {"id": "urn:li:image:nope"}}), headers=headers
    )
    assert unknown.status_code == 422
    assert "urn:li:image:nope does not exist" in unknown.json()["message"]

    waiting = (await initialize(api, token, "image")).json()["value"]["image"]
    early = await api.post("/rest/posts", json=post_body("b", content={"media": {"id": waiting}}), headers=headers)
    assert early.status_code == 422
    assert "WAITING_UPLOAD" in early.json()["message"]

    page_image = await available_image(api, token, ORGANIZATION_URN)
    foreign = await api.post("/rest/posts", json=post_body("c", content={"media": {"id": page_image}}), headers=headers)
    assert foreign.status_code == 400
    assert "not owned by the author" in foreign.json()["message"]

    mine = await available_image(api, token)
    single = await api.post(
        "/rest/posts", json=post_body("d", content={"media": {"id": mine, "altText": "alt"}}), headers=headers
    )
    assert single.status_code == 201


async def test_multi_image_needs_two_to_twenty_images(api: httpx.AsyncClient, token: str) -> None:
    one = await available_image(api, token)
    two = await available_image(api, token)
    headers = rest_headers(token)
    alone = {"multiImage": {"images": [{"id": one}]}}
    refused = await api.post("/rest/posts", json=post_body("x", content=alone), headers=headers)
    assert refused.status_code == 422
    assert "between 2 and 20" in refused.json()["message"]
    pair = {"multiImage": {"images": [{"id": one, "altText": "1"}, {"id": two, "altText": "2"}]}}
    created = await api.post("/rest/posts", json=post_body("y", content=pair), headers=headers)
    assert created.status_code == 201
    stored = (await api.get("/_sandbox/posts", params={"account": MEMBER})).json()
    assert stored[0]["content"] == pair
