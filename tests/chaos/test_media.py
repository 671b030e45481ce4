"""Media posts under fault (issue #16): a publisher SIGKILLed at each step of each platform's upload flow, and the
object store restarted while posts upload and while the media API receives files.

Every flow is held at the step under test (a sandbox latency on that call, or a slow Instagram container), the
publisher is SIGKILLed there, the sandbox faults are cleared and the publisher restarted. Then the batch invariant
holds (each distribution published once, under the right account, its audit timeline complete; see
:mod:`tests.chaos.batch`), each post carries the media it was given (the platform has the same bytes), and the
sandbox's upload counts show the ledger at work: what the killed attempt had uploaded and the platform still held is
reused, never uploaded a second time in full.

The holds stay below the publishers' platform timeout (:data:`~tests.chaos.stack.PLATFORM_TIMEOUT_SECONDS`), so the
held call is still in flight when the kill lands.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from typing import Any

import httpx
import pytest

from herald.contracts.platform import Platform
from tests.chaos.batch import Batch, Figures, Planned, Target, bounded
from tests.chaos.conftest import Deployment
from tests.chaos.media import (
    KIB,
    MIB,
    MediaApi,
    MediaSandboxes,
    Uploaded,
    jpeg,
    mp4,
    recorded_carousel,
    recorded_uploads,
    sha256,
    stored_media,
)
from tests.support.eventually import eventually

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(300)]

HOLD_MS = 1500
"""How long a held platform call waits (below the publishers' 2 s timeout: still in flight when the kill lands)."""
WATCH_INTERVAL = 0.05
"""How often a scenario looks at the sandbox for the step it kills at."""
DOWN_SECONDS = 0.5
CONTAINER_DELAY_MS = 1000
"""The Meta sandbox's default: an Instagram container stays IN_PROGRESS this long after its media is fetched."""


class Media:
    """What a media scenario uses besides the deployment: the media API and the sandboxes' media routes."""

    def __init__(self, herald: Deployment) -> None:
        self.herald = herald
        self.api = MediaApi(herald.stack, herald.team.client)
        self.sandboxes = MediaSandboxes(herald.stack)
        self.items_of: dict[str, list[Uploaded]] = {}

    async def upload(self, data: bytes) -> Uploaded:
        return await self.api.upload(data)

    async def schedule(
        self,
        scenario: str,
        posts: list[tuple[Target, list[Uploaded]]],
        *,
        lead_seconds: float = 1.5,
        spread_seconds: float = 1.0,
    ) -> tuple[Batch, dict[str, list[Uploaded]]]:
        """One approved content per post (unique text carrying the batch's tag, the post's media with alt text on
        images), scheduled on its account, due over ``spread_seconds`` from ``lead_seconds`` after scheduling.
        Returns the batch and each distribution's media in posting order."""
        tag = uuid.uuid4().hex[:10]
        texts = [f"Herald chaos {scenario} {tag} post {i} {uuid.uuid4().hex[:8]}" for i in range(len(posts))]

        def media_of(items: list[Uploaded]) -> list[dict[str, Any]]:
            return [
                {"media_id": u.media_id, "alt_text": f"chaos item {n}" if u.kind == "image" else None}
                for n, u in enumerate(items)
            ]

        content_ids = await bounded(
            [
                partial(self.herald.team.approved_content, text, media_of(items))
                for text, (_, items) in zip(texts, posts, strict=True)
            ]
        )
        start = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=lead_seconds)
        step = spread_seconds / max(len(posts), 1)
        planned = [
            Planned(i, target, texts[i], start + dt.timedelta(seconds=i * step)) for i, (target, _) in enumerate(posts)
        ]

        async def schedule_one(p: Planned, content_id: str) -> None:
            created = await self.herald.team.schedule(
                content_id, p.target.platform, p.target.account_id, p.due, max_attempts=8
            )
            p.distribution_id = str(created["distribution_id"])

        await bounded([partial(schedule_one, p, c) for p, c in zip(planned, content_ids, strict=True)])
        batch = Batch(self.herald.team, self.herald.sandboxes, scenario, tag, planned)
        items_of = {p.distribution_id: items for p, (_, items) in zip(planned, posts, strict=True)}
        self.items_of |= items_of
        return batch, items_of

    async def kill_when(
        self, batch: Batch, service: str, reached: Callable[[], Awaitable[bool]], step: str, within: float = 60
    ) -> None:
        """When ``reached()`` (the flow is held at ``step``): SIGKILL ``service``, clear the sandboxes' faults,
        restart it after a moment."""
        await eventually(reached, within=within, interval=WATCH_INTERVAL, what=f"{batch.scenario}: {step}")
        batch.mark_fault()
        self.herald.stack.kill(service)
        await self.herald.sandboxes.clear_faults()
        await asyncio.sleep(DOWN_SECONDS)  # the fault itself: the publisher stays dead a moment
        await self.herald.stack.restart(service)

    async def check_ledger(self, batch: Batch, platform: Platform, figures: Figures) -> None:
        """The publisher's ledger recorded an upload step for every item of every distribution of the batch (what a
        restarted publisher resumed from); the recorded states go into the figures."""
        ids = [p.distribution_id for p in batch.planned]
        recorded = await recorded_uploads(self.herald.database_url, platform, ids)
        figures.notes["ledger"] = sorted(Counter(s for states in recorded.values() for s in states).items())
        short = {i: recorded.get(i, []) for i in ids if len(recorded.get(i, [])) != len(self.items_of[i])}
        assert not short, f"the {platform} publisher's ledger does not record every item's upload: {short}"

    async def posts(self, batch: Batch, platform: Platform) -> dict[str, dict[str, Any]]:
        """The batch's posts on one sandbox, by distribution id."""
        return {
            batch.by_text[p["text"]].distribution_id: p
            for p in await batch.sandbox_posts()
            if p["platform"] is platform and p["text"] in batch.by_text
        }


@pytest.fixture
async def media(herald: Deployment) -> AsyncIterator[Media]:
    found = Media(herald)
    try:
        yield found
    finally:
        await found.sandboxes.meta_settings(container_delay_ms=CONTAINER_DELAY_MS)
        await found.sandboxes.close()


def _targets(herald: Deployment, platform: Platform) -> list[Target]:
    return [t for t in herald.targets if t.platform is platform]


async def _created(herald: Deployment, platform: Platform, account: str) -> int:
    """Create calls the sandbox received for ``account`` (counted as they arrive, before any hold)."""
    return (await herald.sandboxes.stats(platform))["create_requests"].get(account, 0)


# -- X ----------------------------------------------------------------------------------------------------------------


async def _check_x(media: Media, batch: Batch, items_of: dict[str, list[Uploaded]]) -> dict[str, int]:
    """Each X post carries its media ids, whose bytes are the items' (and processed); returns the media ids X issued
    per account (one per item when nothing was uploaded twice)."""
    uploads = {u["id"]: u for u in await media.sandboxes.x_uploads()}
    for distribution_id, post in (await media.posts(batch, Platform.X)).items():
        attached = [uploads[i] for i in post.get("media_ids", [])]
        assert [u["sha256"] for u in attached] == [i.sha256 for i in items_of[distribution_id]], (
            f"{distribution_id}: X post {post['id']} carries {attached}, not {items_of[distribution_id]}"
        )
        assert all(u["state"] == "succeeded" and u["received_bytes"] == u["total_bytes"] for u in attached), attached
    return dict(Counter(u["account"] for u in uploads.values()))


@pytest.mark.parametrize("step", ["mid-append", "after-finalize", "during-create"])
async def test_x_publisher_killed(herald: Deployment, media: Media, step: str) -> None:
    """X: an image uploaded in 128 KiB APPEND segments (``mid-append``: killed with one segment in and the next one
    held), a video killed while X processes it after FINALIZE (``after-finalize``: the create is held so the kill
    cannot land after the post), or the post create held (``during-create``). One post per distribution, carrying
    its media, and one media id per item: the restarted publisher resumed the recorded upload."""
    targets = _targets(herald, Platform.X)[:2]
    video = step == "after-finalize"
    items = [await media.upload(mp4(size=400 * KIB) if video else jpeg(size=600 * KIB)) for _ in targets]
    if step == "mid-append":
        await herald.sandboxes.arm(Platform.X, kind="latency", operation="upload", latency_ms=HOLD_MS, count=10_000)
    else:
        await herald.sandboxes.arm(Platform.X, kind="latency", operation="create", latency_ms=HOLD_MS, count=10_000)
    batch, items_of = await media.schedule(f"x-media-{step}", [(t, [i]) for t, i in zip(targets, items, strict=True)])

    async def reached() -> bool:
        if step == "during-create":
            return sum([await _created(herald, Platform.X, t.sandbox_account) for t in targets]) >= 1
        uploads = await media.sandboxes.x_uploads()
        if step == "mid-append":
            held = [u for u in uploads if u["state"] == "uploading" and u["segments"] >= 1]
            return any(u["received_bytes"] < u["total_bytes"] for u in held)
        return any(u["state"] != "uploading" for u in uploads)

    await media.kill_when(batch, "publisher-x", reached, step)

    figures, _ = await batch.verify(herald.record, notes={"killed": f"publisher-x {step}"})
    await media.check_ledger(batch, Platform.X, figures)
    issued = await _check_x(media, batch, items_of)
    figures.notes["x_media_ids"] = issued
    # A kill can land after X finished a step and before the ledger recorded it: then one redo is right (nothing
    # recorded, nothing reused). More than one would mean a recorded upload was done again.
    assert all(1 <= issued.get(t.sandbox_account, 0) <= 2 for t in targets), (
        f"X issued {issued} media ids for one item per account: an upload the ledger had recorded was done again"
    )


# -- LinkedIn ---------------------------------------------------------------------------------------------------------


def _linkedin_media(post: dict[str, Any]) -> list[str]:
    content = post.get("content") or {}
    if "media" in content:
        return [content["media"]["id"]]
    return [image["id"] for image in content.get("multiImage", {}).get("images", [])]


@pytest.mark.parametrize("step", ["mid-upload", "after-finalize", "during-create"])
async def test_linkedin_publisher_killed(herald: Deployment, media: Media, step: str) -> None:
    """LinkedIn: a 9 MiB video in three 4 MiB parts killed with a part in and the next held (``mid-upload``), killed
    while its status is polled after ``finalizeUpload`` (``after-finalize``), or an image post killed while its
    create is held (``during-create``). One post each, with an AVAILABLE asset, and one ``initializeUpload`` per
    item."""
    target = _targets(herald, Platform.LINKEDIN)[0]
    member = target.sandbox_account
    video = step != "during-create"
    item = await media.upload(mp4(size=9 * MIB) if video else jpeg(size=300 * KIB))
    operation = {"mid-upload": "upload", "after-finalize": "read", "during-create": "create"}[step]
    await herald.sandboxes.arm(
        Platform.LINKEDIN, kind="latency", operation=operation, account=member, latency_ms=HOLD_MS, count=10_000
    )
    batch, _ = await media.schedule(f"linkedin-media-{step}", [(target, [item])])

    async def reached() -> bool:
        if step == "during-create":
            return await _created(herald, Platform.LINKEDIN, member) >= 1
        assets = (await media.sandboxes.linkedin())["assets"]
        if step == "mid-upload":
            return any(1 <= a["parts_received"] < a["parts"] for a in assets)
        return any(a["parts"] == a["parts_received"] > 1 and a["status"] != "WAITING_UPLOAD" for a in assets)

    await media.kill_when(batch, "publisher-linkedin", reached, step)

    figures, _ = await batch.verify(herald.record, notes={"killed": f"publisher-linkedin {step}"})
    await media.check_ledger(batch, Platform.LINKEDIN, figures)
    seen = await media.sandboxes.linkedin()
    assets = {a["id"]: a for a in seen["assets"]}
    (post,) = (await media.posts(batch, Platform.LINKEDIN)).values()
    (urn,) = _linkedin_media(post)
    assert assets[urn]["status"] == "AVAILABLE", assets[urn]
    assert assets[urn]["bytes_received"] == item.size, assets[urn]
    kind = "video" if video else "image"
    initialized = seen["requests"].get(f"{kind}.initializeUpload", 0)
    figures.notes |= {"linkedin_requests": seen["requests"]}
    # One redo is right when the kill landed between LinkedIn's answer and the ledger's record of it.
    assert 1 <= initialized <= 2, f"{initialized} {kind} initializeUpload calls for one item: the upload was redone"
    assert urn.startswith(f"urn:li:{kind}:")


# -- Facebook Page ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("step", ["mid-upload", "during-publish"])
async def test_facebook_page_publisher_killed(herald: Deployment, media: Media, step: str) -> None:
    """A Facebook Page post of two photos (each uploaded unpublished, then one feed post with ``attached_media``):
    killed with the first photo uploaded and the second held (``mid-upload``), or with the feed post held
    (``during-publish``). One post with both photos; the photo the killed attempt had uploaded is not uploaded
    again."""
    target = _targets(herald, Platform.META)[0]
    page = target.sandbox_account
    items = [await media.upload(jpeg(size=200 * KIB)) for _ in range(2)]
    before = (await media.sandboxes.meta_requests()).get(f"{page}/photos", 0)
    # unpublished photos are Graph reads for the sandbox's faults; the feed post is the create
    operation = "read" if step == "mid-upload" else "create"
    await herald.sandboxes.arm(
        Platform.META, kind="latency", operation=operation, account=page, latency_ms=HOLD_MS, count=10_000
    )
    batch, _ = await media.schedule(f"facebook-photos-{step}", [(target, items)])

    async def reached() -> bool:
        if step == "during-publish":
            return await _created(herald, Platform.META, page) >= 1
        return (await media.sandboxes.meta_requests()).get(f"{page}/photos", 0) - before >= 2

    await media.kill_when(batch, "publisher-meta", reached, step)

    figures, _ = await batch.verify(herald.record, notes={"killed": f"publisher-meta {step}"})
    await media.check_ledger(batch, Platform.META, figures)
    photo_calls = (await media.sandboxes.meta_requests()).get(f"{page}/photos", 0) - before
    (post,) = (await media.posts(batch, Platform.META)).values()
    figures.notes["photo_calls"] = photo_calls
    assert len(post.get("attached_media", [])) == 2, post
    # mid-upload: the first photo is reused, only the held one is sent again (3 calls); during-publish: none again
    most = 3 if step == "mid-upload" else 2
    assert photo_calls <= most, f"{photo_calls} photo uploads for 2 photos: a recorded photo was uploaded again"


# -- Instagram --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("step", ["mid-upload", "after-container", "during-publish"])
async def test_instagram_carousel_publisher_killed(herald: Deployment, media: Media, step: str) -> None:
    """An Instagram carousel of two JPEGs (two item containers Instagram fetches from presigned URLs, then the
    carousel container, then ``media_publish``): killed with the first item container made and the second one's
    creation held (``mid-upload``), once the carousel container exists and is still IN_PROGRESS
    (``after-container``), or with ``media_publish`` held (``during-publish``). One Instagram post carrying the
    first item container the killed attempt made: no container made twice (but the one whose creation was cut
    short), ``media_publish`` called once."""
    assert herald.instagram, "the Meta connect linked no Instagram account"
    target = herald.instagram[0]
    ig_user = target.sandbox_account
    items = [await media.upload(jpeg(1080, 1080, size=150 * KIB)) for _ in range(2)]
    requests = await media.sandboxes.meta_requests()
    before = {edge: requests.get(f"{ig_user}/{edge}", 0) for edge in ("media", "media_publish")}
    known = {c["id"] for c in await media.sandboxes.meta_containers()}
    if step == "after-container":
        await media.sandboxes.meta_settings(container_delay_ms=4000)
    else:
        # container creation is a Graph read for the sandbox's faults, media_publish the create
        operation = "read" if step == "mid-upload" else "create"
        await herald.sandboxes.arm(
            Platform.META, kind="latency", operation=operation, account=ig_user, latency_ms=HOLD_MS, count=10_000
        )
    batch, _ = await media.schedule(f"instagram-carousel-{step}", [(target, items)])

    async def calls(edge: str) -> int:
        return (await media.sandboxes.meta_requests()).get(f"{ig_user}/{edge}", 0) - before[edge]

    async def new_containers() -> list[dict[str, Any]]:
        return [c for c in await media.sandboxes.meta_containers() if c["id"] not in known]

    first: list[str] = []

    async def reached() -> bool:
        if step == "mid-upload":
            made = await new_containers()
            first[:] = [c["id"] for c in made]
            return len(made) == 1 and await calls("media") >= 2
        if step == "during-publish":
            return await calls("media_publish") >= 1
        # the publisher recorded the carousel container (not merely Instagram made it): a kill between the two is
        # a lost answer, after which a second container is expected and harmless (an unpublished one expires)
        return await recorded_carousel(herald.database_url, batch.planned[0].distribution_id) is not None

    await media.kill_when(batch, "publisher-meta", reached, step)
    await media.sandboxes.meta_settings(container_delay_ms=CONTAINER_DELAY_MS)

    figures, _ = await batch.verify(herald.record, notes={"killed": f"publisher-meta {step}"})
    await media.check_ledger(batch, Platform.META, figures)
    made = await new_containers()
    carousels = [c for c in made if c["media_type"] == "CAROUSEL"]
    (post,) = (await media.posts(batch, Platform.META)).values()
    figures.notes |= {"containers": len(made), "media_publish": await calls("media_publish")}
    assert len(carousels) == 1, f"{len(carousels)} carousel containers for one post: {carousels}"
    assert post["container_id"] == carousels[0]["id"], post
    assert len(post["children"]) == 2, post
    # mid-upload: the held item container may still be made by Instagram after the kill, unused (one extra)
    most = 4 if step == "mid-upload" else 3
    assert len(made) <= most, f"{len(made)} containers for a carousel of two: a recorded container was made again"
    if step == "mid-upload":
        assert first[0] in post["children"], f"the first item container {first} was not reused: {post}"
    assert await calls("media_publish") == 1, "media_publish was called again for a published container"


# -- the object store -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("by", ["streamed", "fetched"])
async def test_objectstore_restart_while_image_posts_upload(herald: Deployment, media: Media, by: str) -> None:
    """SeaweedFS (the ``objectstore`` process) is SIGKILLed and restarted while image posts upload: ``streamed``,
    X and LinkedIn read the bytes from the store and send them; ``fetched``, Facebook (one photo, and two photos on
    one post) and Instagram (carousels of two) fetch them from presigned URLs. Every post is published once with its
    images; nothing is lost."""
    platforms = (Platform.X, Platform.LINKEDIN) if by == "streamed" else (Platform.META,)
    posts: list[tuple[Target, list[Uploaded]]] = []
    for target in [t for t in herald.targets if t.platform in platforms]:
        for n in range(3):
            count = 2 if target.platform is Platform.META and n == 0 else 1
            posts.append((target, [await media.upload(jpeg(size=300 * KIB)) for _ in range(count)]))
    for target in herald.instagram[:1] if by == "fetched" else []:
        for _ in range(2):
            posts.append((target, [await media.upload(jpeg(1080, 1080, size=150 * KIB)) for _ in range(2)]))
    for platform in Platform:  # each upload step takes a moment, so the restart lands among uploads
        await herald.sandboxes.arm(platform, kind="latency", operation="upload", latency_ms=200, count=10_000)
        await herald.sandboxes.arm(platform, kind="latency", operation="read", latency_ms=200, count=10_000)
    batch, items_of = await media.schedule(f"objectstore-restart-{by}", posts, spread_seconds=6)

    await batch.wait_posted(2)
    batch.mark_fault()
    herald.stack.kill("objectstore")
    down = time.monotonic()
    await asyncio.sleep(1.0)  # the fault itself: the object store stays down a while
    await herald.stack.restart("objectstore")
    outage = time.monotonic() - down

    figures, details = await batch.verify(
        herald.record, notes={"killed": "objectstore", "down": f"{outage:.1f}s"}, settle_timeout=180
    )
    figures.notes["retries"] = sum(a["outcome"] == "retry_scheduled" for d in details.values() for a in d["attempts"])
    await _check_x(media, batch, items_of)
    for distribution_id, post in (await media.posts(batch, Platform.LINKEDIN)).items():
        assert len(_linkedin_media(post)) == 1, f"{distribution_id}: {post}"
    for distribution_id, post in (await media.posts(batch, Platform.META)).items():
        attached = post.get("children") or post.get("attached_media") or []
        assert len(attached) == len(items_of[distribution_id]), f"{distribution_id}: {post}"


async def test_media_api_answers_503_while_the_objectstore_is_away(herald: Deployment, media: Media) -> None:
    """With the object store down, an upload (direct, or a resumable chunk) is an outage like an unreachable
    database: 503 with ``Retry-After``, never a 500; once the store is back the same calls succeed."""
    api = media.api
    data = jpeg(size=100 * KIB)
    created = await api.client.post(f"{api.url}/v1/uploads", json={"size_bytes": len(data), "sha256": sha256(data)})
    assert created.status_code == 201, created.text
    upload_id = str(created.json()["id"])
    herald.stack.kill("objectstore")
    try:
        answers = {
            "POST /v1/media": await _answer(
                lambda: api.client.post(f"{api.url}/v1/media", files={"file": ("chaos.jpg", data)})
            ),
            "PUT /v1/uploads/{id}": await _answer(lambda: api.put_chunk(upload_id, data, 0, len(data) - 1)),
        }
    finally:
        await herald.stack.restart("objectstore")
    item = await _until_accepted(
        lambda: api.client.post(f"{api.url}/v1/media", files={"file": ("chaos.jpg", data)}), Refusals(), (200, 201)
    )
    resumed = await _until_accepted(lambda: api.put_chunk(upload_id, data, 0, len(data) - 1), Refusals(), (200, 201))
    stored = await stored_media(herald.stack)
    assert stored.get(str(item.json()["id"])) == sha256(data)
    assert stored.get(str(resumed.json()["id"])) == sha256(data)
    wrong = {call: answer for call, answer in answers.items() if answer[0] != 503 or not answer[1]}
    assert not wrong, f"answers while the object store was down (status, Retry-After): {wrong}"


UPLOADS_DIRECT = 12
RESUMABLE_SIZE = 12 * MIB
RESUMABLE_CHUNK = 1 * MIB
RETRY_PAUSE = 0.3


class Refusals:
    """Calls the media API refused or could not answer while the object store was away."""

    def __init__(self) -> None:
        self.count = 0
        self.statuses: Counter[str] = Counter()

    def note(self, what: str) -> None:
        self.count += 1
        self.statuses[what] += 1


async def _until_accepted(
    call: Callable[[], Awaitable[httpx.Response]], refusals: Refusals, ok: tuple[int, ...], within: float = 90
) -> httpx.Response:
    """``call()`` again after a transport error or a 5xx (the store is away) until it answers one of ``ok``."""
    deadline = time.monotonic() + within
    while True:
        try:
            response = await call()
        except httpx.TransportError as error:
            refusals.note(type(error).__name__)
        else:
            if response.status_code in ok:
                return response
            if response.status_code < 500:
                raise AssertionError(f"refused: {response.status_code} {response.text[:300]}")
            refusals.note(str(response.status_code))
        assert time.monotonic() < deadline, f"not accepted within {within:.0f}s: {refusals.statuses}"
        await asyncio.sleep(RETRY_PAUSE)


async def _resumable(api: MediaApi, data: bytes, refusals: Refusals) -> Uploaded:
    """A resumable upload in 1 MiB chunks, resumed from the offset the service reports after any failure."""
    created = await _until_accepted(
        lambda: api.client.post(
            f"{api.url}/v1/uploads", json={"size_bytes": len(data), "sha256": sha256(data)}, timeout=30
        ),
        refusals,
        (201,),
    )
    upload_id = str(created.json()["id"])
    offset = 0
    while True:
        last = min(offset + RESUMABLE_CHUNK, len(data)) - 1
        try:
            response = await api.put_chunk(upload_id, data, offset, last)
        except httpx.TransportError as error:
            refusals.note(type(error).__name__)
            response = None
        if response is not None and response.status_code in (200, 201):
            body = response.json()
            if "sha256" in body:  # the last chunk answers with the item
                assert body["sha256"] == sha256(data)
                return Uploaded(str(body["id"]), body["sha256"], len(data), str(body["kind"]))
            offset = int(body["offset"])
        else:
            if response is not None:
                if response.status_code < 500 and response.status_code != 409:
                    raise AssertionError(f"chunk refused: {response.status_code} {response.text[:300]}")
                refusals.note(str(response.status_code))
            await asyncio.sleep(RETRY_PAUSE)
            head = await _until_accepted(lambda: api.client.head(f"{api.url}/v1/uploads/{upload_id}"), refusals, (200,))
            offset = int(head.headers["Upload-Offset"])
        await asyncio.sleep(0.02)  # a client on a slow line: the restart lands mid-upload


@pytest.mark.parametrize("signal", ["sigkill", "sigterm"])
async def test_objectstore_restart_while_media_api_receives(herald: Deployment, media: Media, signal: str) -> None:
    """SeaweedFS is restarted (SIGKILL, or a graceful SIGTERM) while the media API receives direct uploads and two
    resumable 12 MiB uploads. Clients retry what was refused and resume from the reported offset; afterwards every
    accepted item is listed by the media API and the object store gives back exactly its bytes."""
    api = media.api
    refusals = Refusals()
    accepted: list[Uploaded] = []
    files = {f"direct-{n}": jpeg(size=200 * KIB) for n in range(UPLOADS_DIRECT)}
    big = {f"resumable-{n}": mp4(size=RESUMABLE_SIZE) for n in range(2)}

    async def direct(data: bytes) -> Uploaded:
        response = await _until_accepted(
            lambda: api.client.post(f"{api.url}/v1/media", files={"file": ("chaos.jpg", data)}, timeout=30),
            refusals,
            (200, 201),
        )
        body = response.json()
        item = Uploaded(str(body["id"]), str(body["sha256"]), len(data), str(body["kind"]))
        accepted.append(item)
        return item

    async def directs(names: list[str]) -> list[Uploaded]:
        done = []
        for name in names:
            done.append(await direct(files[name]))
            await asyncio.sleep(0.2)
        return done

    names = list(files)
    workers = [asyncio.create_task(directs(names[i::3])) for i in range(3)]
    workers += [asyncio.create_task(_one(_resumable(api, data, refusals))) for data in big.values()]
    await eventually(lambda: _at_least(accepted, 3), within=60, interval=0.05, what="3 uploads accepted")
    began = time.monotonic()
    if signal == "sigkill":
        herald.stack.kill("objectstore")
    else:
        herald.stack.terminate("objectstore")
    await asyncio.sleep(1.0)  # the fault itself: the object store stays down a while
    await herald.stack.restart("objectstore")
    outage = time.monotonic() - began
    results = await asyncio.gather(*workers)
    items = [item for group in results for item in group]

    stored = await stored_media(herald.stack)
    notes = {"signal": signal, "down": f"{outage:.1f}s", "refused": dict(refusals.statuses), "items": len(items)}
    print(f"CHAOS objectstore-restart-uploads: {notes}")
    expected = {**{n: sha256(d) for n, d in files.items()}, **{n: sha256(d) for n, d in big.items()}}
    assert sorted(i.sha256 for i in items) == sorted(expected.values()), "an upload was lost or changed"
    for item in items:
        listed = await api.item(item.media_id)
        assert (listed["sha256"], listed["size_bytes"]) == (item.sha256, item.size), listed
        assert stored.get(item.media_id) == item.sha256, (
            f"{item.media_id}: the object store gives back {stored.get(item.media_id)}, not {item.sha256}"
        )
    assert refusals.count > 0, "no upload call met the outage: the restart proved nothing"


async def _answer(call: Callable[[], Awaitable[httpx.Response]]) -> tuple[int | str, str | None]:
    """``(status, Retry-After)`` of one call; a dropped connection is asked once more (a pooled connection the
    server closed), then reported by its error's name."""
    failure = ""
    for _ in range(2):
        try:
            response = await call()
        except httpx.TransportError as error:
            failure = type(error).__name__
            continue
        return response.status_code, response.headers.get("Retry-After")
    return failure, None


async def _one(upload: Awaitable[Uploaded]) -> list[Uploaded]:
    return [await upload]


async def _at_least(items: list[Uploaded], n: int) -> bool:
    return len(items) >= n
