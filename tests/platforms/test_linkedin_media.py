"""The LinkedIn client's media flows against the sandbox: images, multi-image, multi-part video, processing failure,
expired upload URLs and reuse of what an earlier attempt uploaded (counted on the sandbox)."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from herald.contracts.media import MediaKind, MediaReference
from herald.platforms.base import (
    Account,
    Draft,
    ErrorClass,
    MediaContext,
    PlatformError,
    PlatformKit,
    PreparedPost,
    UploadRecord,
)
from herald.platforms.linkedin import build
from herald.publishing.media import FAILED_STATE
from herald.sandboxes.linkedin.app import create_app
from herald.sandboxes.linkedin.config import LinkedInSandboxConfig
from tests.platforms.test_linkedin_support import (
    BASE_SCOPES,
    MEMBER,
    MEMBER_URN,
    ORGANIZATION_SCOPES,
    ORGANIZATION_URN,
    mint,
    sandbox_settings,
)
from tests.support.media import FakeMediaSource, FakeUploadMemory
from tests.support.servers import serve

PART_BYTES = 64 * 1024
ACCOUNT = Account(MEMBER_URN)


@pytest.fixture(scope="module")
def sandbox_url() -> Iterator[str]:
    config = LinkedInSandboxConfig(video_part_bytes=PART_BYTES, video_processing=dt.timedelta(milliseconds=150))
    with serve(create_app(config)) as url:
        yield url


@pytest.fixture
async def control(sandbox_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sandbox_url) as client:
        (await client.post("/_sandbox/reset")).raise_for_status()
        yield client


def media_settings(base_url: str, **overrides: Any) -> dict[str, Any]:
    return {"media_poll_interval_seconds": 0.05, "media_poll_timeout_seconds": 5.0, **overrides}


@pytest.fixture
async def kit(sandbox_url: str) -> AsyncIterator[PlatformKit]:
    async with httpx.AsyncClient() as http:
        yield build(sandbox_settings(sandbox_url, timeout=5.0, **media_settings(sandbox_url)), http)


@pytest.fixture
async def token(control: httpx.AsyncClient) -> str:
    return str((await mint(control, BASE_SCOPES))["access_token"])


def image(source: FakeMediaSource, alt: str | None = None, size: int = 3000) -> MediaReference:
    return source.add(b"\xff\xd8\xff" + os.urandom(size), alt_text=alt)


def video(source: FakeMediaSource, size: int) -> MediaReference:
    return source.add(
        os.urandom(size), kind=MediaKind.VIDEO, content_type="video/mp4", duration_ms=5000, width=1280, height=720
    )


def prepared(kit: PlatformKit, text: str, media: list[MediaReference]) -> PreparedPost:
    return kit.rules.prepare(Draft(text=text, media=tuple(media)))


async def media_state(control: httpx.AsyncClient) -> dict[str, Any]:
    response = await control.get("/_sandbox/linkedin/media")
    response.raise_for_status()
    state: dict[str, Any] = response.json()
    return state


async def stored_posts(control: httpx.AsyncClient) -> list[dict[str, Any]]:
    posts: list[dict[str, Any]] = (await control.get("/_sandbox/posts", params={"account": MEMBER})).json()
    return posts


def states(memory: FakeUploadMemory, item: MediaReference) -> list[str]:
    return [record.state for media_id, record in memory.history if media_id == item.media_id]


@dataclass
class CrashingMemory(FakeUploadMemory):
    """Stands in for a publisher that dies right after recording ``crash_at`` (the record is durable)."""

    crash_at: str = ""
    crashes: int = 1
    before_recording: bool = False  # die before the record is written instead of after

    async def remember(self, media: MediaReference, record: UploadRecord) -> None:
        if not (self.before_recording and record.state == self.crash_at and self.crashes > 0):
            await super().remember(media, record)
        if record.state == self.crash_at and self.crashes > 0:
            self.crashes -= 1
            raise RuntimeError(f"publisher died after recording {record.state}")


async def test_a_single_image_is_uploaded_processed_and_posted_with_its_alt_text(
    kit: PlatformKit, control: httpx.AsyncClient, token: str
) -> None:
    source, memory = FakeMediaSource(), FakeUploadMemory()
    item = image(source, alt="A lighthouse at dusk")
    published = await kit.client.publish(ACCOUNT, token, prepared(kit, "Look", [item]), MediaContext(source, memory))

    [post] = await stored_posts(control)
    urn = memory.records[item.media_id].platform_media_id
    assert post["id"] == published.post_id
    assert post["content"] == {"media": {"id": urn, "altText": "A lighthouse at dusk"}}
    assert urn.startswith("urn:li:image:")
    assert states(memory, item) == ["initialized", "uploaded", "available"]
    assert token not in repr(memory.history)  # upload records never hold the access token
    sandbox = await media_state(control)
    assert sandbox["assets"] == [
        {
            "id": urn,
            "owner": MEMBER_URN,
            "status": "AVAILABLE",
            "parts": 1,
            "parts_received": 1,
            "bytes_received": 3003,
            "sha256": item.sha256,
        }
    ]
    assert sandbox["requests"]["image.initializeUpload"] == 1
    assert sandbox["requests"]["image.upload"] == 1


async def test_a_page_post_uploads_its_image_as_the_page(kit: PlatformKit, control: httpx.AsyncClient) -> None:
    token = str((await mint(control, ORGANIZATION_SCOPES))["access_token"])
    source, memory = FakeMediaSource(), FakeUploadMemory()
    item = image(source)
    page = Account(ORGANIZATION_URN)
    await kit.client.publish(page, token, prepared(kit, "From the Page", [item]), MediaContext(source, memory))

    [asset] = (await media_state(control))["assets"]
    assert asset["owner"] == ORGANIZATION_URN
    [post] = (await control.get("/_sandbox/posts", params={"account": ORGANIZATION_URN})).json()
    assert post["content"]["media"]["id"] == asset["id"]


async def test_an_account_that_may_not_upload_is_permanent(
    kit: PlatformKit, control: httpx.AsyncClient, token: str
) -> None:
    source = FakeMediaSource()
    with pytest.raises(PlatformError) as raised:
        await kit.client.publish(
            Account(ORGANIZATION_URN),
            token,
            prepared(kit, "No role", [image(source)]),
            MediaContext(source, FakeUploadMemory()),
        )
    assert (raised.value.error_class, raised.value.http_status) == (ErrorClass.PERMANENT, 403)
    assert (await media_state(control))["assets"] == []


async def test_several_images_become_a_multi_image_post_in_order(
    kit: PlatformKit, control: httpx.AsyncClient, token: str
) -> None:
    source, memory = FakeMediaSource(), FakeUploadMemory()
    items = [image(source, alt=f"photo {n}") for n in range(3)]
    await kit.client.publish(ACCOUNT, token, prepared(kit, "Three", items), MediaContext(source, memory))

    [post] = await stored_posts(control)
    urns = [memory.records[item.media_id].platform_media_id for item in items]
    assert len(set(urns)) == 3
    assert post["content"] == {
        "multiImage": {"images": [{"id": urn, "altText": f"photo {n}"} for n, urn in enumerate(urns)]}
    }


async def test_a_video_is_sent_in_the_instructed_parts_finalized_and_posted(
    kit: PlatformKit, control: httpx.AsyncClient, token: str
) -> None:
    source, memory = FakeMediaSource(), FakeUploadMemory()
    item = video(source, 3 * PART_BYTES + 1000)  # four parts, the last one short
    await kit.client.publish(ACCOUNT, token, prepared(kit, "Watch", [item]), MediaContext(source, memory))

    [post] = await stored_posts(control)
    record = memory.records[item.media_id]
    assert post["content"] == {"media": {"id": record.platform_media_id}}
    assert states(memory, item) == ["initialized", *["part_uploaded"] * 4, "finalized", "available"]
    assert record.detail["etags"].count("/") == 4  # every part's ETag kept, in order
    sandbox = await media_state(control)
    assert sandbox["assets"][0]["parts"] == 4
    assert sandbox["assets"][0]["bytes_received"] == item.size_bytes
    assert (sandbox["requests"]["video.upload"], sandbox["requests"]["video.finalizeUpload"]) == (4, 1)
    assert sandbox["requests"]["video.get"] >= 1


async def test_processing_failure_is_permanent_and_names_linkedins_reason(
    kit: PlatformKit, control: httpx.AsyncClient, token: str
) -> None:
    fault = {"kind": "error", "operation": "processing", "account": MEMBER, "error": "Unsupported video codec"}
    (await control.post("/_sandbox/faults", json=fault)).raise_for_status()
    source, memory = FakeMediaSource(), FakeUploadMemory()
    item = video(source, PART_BYTES + 10)

    with pytest.raises(PlatformError) as raised:
        await kit.client.publish(ACCOUNT, token, prepared(kit, "Broken", [item]), MediaContext(source, memory))

    assert raised.value.error_class is ErrorClass.PERMANENT
    assert "Unsupported video codec" in raised.value.message
    assert raised.value.platform_code == "PROCESSING_FAILED"
    assert await stored_posts(control) == []
    assert (await media_state(control))["assets"][0]["status"] == "PROCESSING_FAILED"
    # recorded as "failed" (with LinkedIn's reason), so the publisher's processing-failure metric counts it
    assert states(memory, item)[-1] == FAILED_STATE
    assert memory.records[item.media_id].detail["error"] == "Unsupported video codec"


@pytest.mark.parametrize(("error", "status"), [("server_error", 500), ("rate_limited", 429)])
async def test_upload_refusals_are_retry_later_never_unknown_outcome(
    kit: PlatformKit, control: httpx.AsyncClient, token: str, error: str, status: int
) -> None:
    fault = {"kind": "error", "operation": "upload", "account": MEMBER, "error": error}
    (await control.post("/_sandbox/faults", json=fault)).raise_for_status()
    source = FakeMediaSource()

    with pytest.raises(PlatformError) as raised:
        await kit.client.publish(
            ACCOUNT, token, prepared(kit, "Later", [image(source)]), MediaContext(source, FakeUploadMemory())
        )

    assert (raised.value.error_class, raised.value.http_status) == (ErrorClass.RETRY_LATER, status)
    assert (await control.get("/_sandbox/stats")).json()["create_requests"] == {}


async def test_a_retry_reuses_available_images_and_uploads_nothing_again(
    kit: PlatformKit, control: httpx.AsyncClient, token: str
) -> None:
    fault = {"kind": "error", "operation": "create", "account": MEMBER, "error": "rate_limited"}
    (await control.post("/_sandbox/faults", json=fault)).raise_for_status()
    source, memory = FakeMediaSource(), FakeUploadMemory()
    items = [image(source), image(source)]
    post = prepared(kit, "Again", items)

    with pytest.raises(PlatformError) as first:
        await kit.client.publish(ACCOUNT, token, post, MediaContext(source, memory))
    assert first.value.error_class is ErrorClass.RETRY_LATER
    await kit.client.publish(ACCOUNT, token, post, MediaContext(source, memory))

    sandbox = await media_state(control)
    assert (sandbox["requests"]["image.initializeUpload"], sandbox["requests"]["image.upload"]) == (2, 2)
    assert source.reads == 2  # the stored bytes were read once per item, on the first attempt only
    [stored] = await stored_posts(control)
    assert [i["id"] for i in stored["content"]["multiImage"]["images"]] == [
        memory.records[item.media_id].platform_media_id for item in items
    ]


async def test_a_retry_sends_only_the_video_parts_still_missing(
    kit: PlatformKit, control: httpx.AsyncClient, token: str
) -> None:
    source = FakeMediaSource()
    memory = CrashingMemory(crash_at="part_uploaded", crashes=1)
    item = video(source, 3 * PART_BYTES)
    post = prepared(kit, "Resume", [item])

    with pytest.raises(RuntimeError):
        await kit.client.publish(ACCOUNT, token, post, MediaContext(source, memory))
    await kit.client.publish(ACCOUNT, token, post, MediaContext(source, memory))

    sandbox = await media_state(control)
    assert sandbox["requests"]["video.initializeUpload"] == 1
    assert sandbox["requests"]["video.upload"] == 3  # part 1 once, then parts 2 and 3
    assert len(await stored_posts(control)) == 1


async def test_a_retry_after_an_unrecorded_finalize_waits_instead_of_uploading_again(
    kit: PlatformKit, control: httpx.AsyncClient, token: str
) -> None:
    source = FakeMediaSource()
    memory = CrashingMemory(crash_at="finalized", before_recording=True)
    item = video(source, 2 * PART_BYTES)
    post = prepared(kit, "Finalized twice", [item])

    with pytest.raises(RuntimeError):
        await kit.client.publish(ACCOUNT, token, post, MediaContext(source, memory))
    assert memory.records[item.media_id].state == "part_uploaded"
    await kit.client.publish(ACCOUNT, token, post, MediaContext(source, memory))

    sandbox = await media_state(control)
    assert (sandbox["requests"]["video.initializeUpload"], sandbox["requests"]["video.upload"]) == (1, 2)
    assert sandbox["requests"]["video.finalizeUpload"] == 2  # the second one refused: already finalized
    assert len(await stored_posts(control)) == 1


async def test_a_retry_after_an_unrecorded_image_upload_does_not_send_it_again(
    kit: PlatformKit, control: httpx.AsyncClient, token: str
) -> None:
    source = FakeMediaSource()
    memory = CrashingMemory(crash_at="uploaded", before_recording=True)
    item = image(source)
    post = prepared(kit, "Sent once", [item])

    with pytest.raises(RuntimeError):
        await kit.client.publish(ACCOUNT, token, post, MediaContext(source, memory))
    await kit.client.publish(ACCOUNT, token, post, MediaContext(source, memory))

    sandbox = await media_state(control)
    assert sandbox["requests"]["image.initializeUpload"] == 1
    assert sandbox["requests"]["image.upload"] == 2  # the retry's PUT is refused (used URL); the image is kept
    [stored] = await stored_posts(control)
    assert stored["content"]["media"]["id"] == memory.records[item.media_id].platform_media_id


async def test_a_retry_after_the_upload_url_was_refused_initializes_again(
    kit: PlatformKit, control: httpx.AsyncClient, token: str
) -> None:
    source = FakeMediaSource()
    memory = CrashingMemory(crash_at="initialized")
    item = image(source)
    post = prepared(kit, "Expired", [item])
    with pytest.raises(RuntimeError):
        await kit.client.publish(ACCOUNT, token, post, MediaContext(source, memory))
    old = memory.records[item.media_id].platform_media_id
    (await control.post(f"/_sandbox/linkedin/media/{old}/expire")).raise_for_status()

    await kit.client.publish(ACCOUNT, token, post, MediaContext(source, memory))

    new = memory.records[item.media_id].platform_media_id
    assert new != old
    sandbox = await media_state(control)
    assert sandbox["requests"]["image.initializeUpload"] == 2
    assert sandbox["requests"]["image.upload"] == 2  # the refused PUT on the expired URL, then the fresh one
    assert {a["id"]: a["status"] for a in sandbox["assets"]} == {old: "WAITING_UPLOAD", new: "AVAILABLE"}
    [stored] = await stored_posts(control)
    assert stored["content"]["media"]["id"] == new


async def test_a_recorded_upload_url_near_its_expiry_is_not_even_tried(control: httpx.AsyncClient) -> None:
    config = LinkedInSandboxConfig(upload_url_ttl=dt.timedelta(seconds=30))
    with serve(create_app(config)) as url:
        async with httpx.AsyncClient() as http, httpx.AsyncClient(base_url=url) as own:
            settings = sandbox_settings(url, timeout=5.0, **media_settings(url, upload_url_margin_seconds=60))
            kit = build(settings, http)
            token = str((await mint(own, BASE_SCOPES))["access_token"])
            source = FakeMediaSource()
            memory = CrashingMemory(crash_at="initialized")
            item = video(source, PART_BYTES)
            post = prepared(kit, "Short-lived", [item])
            with pytest.raises(RuntimeError):
                await kit.client.publish(ACCOUNT, token, post, MediaContext(source, memory))
            recorded = memory.records[item.media_id]
            assert recorded.expires_at is not None
            assert recorded.expires_at - dt.datetime.now(dt.UTC) < dt.timedelta(seconds=31)

            await kit.client.publish(ACCOUNT, token, post, MediaContext(source, memory))

            requests = (await own.get("/_sandbox/linkedin/media")).json()["requests"]
    assert requests["video.initializeUpload"] == 2
    assert requests["video.upload"] == 1  # only the new URL was used
    assert memory.records[item.media_id].platform_media_id != recorded.platform_media_id


async def test_a_retry_keeps_waiting_for_a_video_still_processing(
    sandbox_url: str, control: httpx.AsyncClient, token: str
) -> None:
    source, memory = FakeMediaSource(), FakeUploadMemory()
    item = video(source, PART_BYTES)
    async with httpx.AsyncClient() as http:
        impatient = build(
            sandbox_settings(sandbox_url, **media_settings(sandbox_url, media_poll_timeout_seconds=0.01)), http
        )
        patient = build(sandbox_settings(sandbox_url, **media_settings(sandbox_url)), http)
        post = prepared(patient, "Slow", [item])
        with pytest.raises(PlatformError) as first:
            await impatient.client.publish(ACCOUNT, token, post, MediaContext(source, memory))
        assert first.value.error_class is ErrorClass.RETRY_LATER
        assert memory.records[item.media_id].state == "finalized"
        await patient.client.publish(ACCOUNT, token, post, MediaContext(source, memory))

    sandbox = await media_state(control)
    assert (sandbox["requests"]["video.initializeUpload"], sandbox["requests"]["video.upload"]) == (1, 1)
    assert len(await stored_posts(control)) == 1


async def test_media_beside_a_link_or_a_video_among_images_is_refused_before_any_call(
    kit: PlatformKit, control: httpx.AsyncClient, token: str
) -> None:
    source = FakeMediaSource()
    with_link = PreparedPost(parts=("x",), link="https://example.com", media=(image(source),))
    mixed = PreparedPost(parts=("x",), media=(image(source), video(source, 100)))
    for post in (with_link, mixed):
        with pytest.raises(PlatformError) as raised:
            await kit.client.publish(ACCOUNT, token, post, MediaContext(source, FakeUploadMemory()))
        assert raised.value.error_class is ErrorClass.PERMANENT
    assert (await media_state(control))["requests"] == {}
