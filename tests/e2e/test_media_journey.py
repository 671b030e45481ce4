"""The media journey of issue #16, end to end over the public APIs of real processes: connect X, LinkedIn, a Facebook
Page and its Instagram account; upload images (multipart) and a video (resumable, interrupted once); schedule image
posts, an Instagram carousel and an X video; each sandbox got exactly those media, in order, with their alt texts;
the platforms' media rules answer 422 at scheduling time; a held media item cannot be deleted until its
distribution is cancelled; the audit log has the media and publish events; and no secret shows in an event, an
audit row or a log line."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aio_pika
import httpx
import pytest

from herald.contracts.platform import Platform
from herald.contracts.routing import EVENTS_EXCHANGE
from tests.e2e.conftest import Api
from tests.e2e.test_journey import connect, settle
from tests.media.samples import image, mp4
from tests.support.eventually import eventually

# The first test's time includes starting every process and the whole journey (the module's fixtures).
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(420)]
ALTS = ("A red square", "A green square", "A blue square")
SIGNATURE = re.compile(r"X-Amz-Signature=([0-9a-f]{64})", re.IGNORECASE)


@dataclass
class Journey:
    """What the journey did and what it saw, for the tests to check."""

    accounts: dict[str, dict[str, Any]]
    jpegs: list[dict[str, Any]]
    images: list[bytes]
    png: dict[str, Any]
    clip: dict[str, Any]
    clip_bytes: bytes
    refusals: dict[str, httpx.Response]
    held: str
    delete_refused: httpx.Response
    delete_after_cancel: httpx.Response
    distributions: dict[str, str]
    outcomes: dict[str, dict[str, Any]]
    events: list[bytes] = field(default_factory=list)


async def upload_image(api: Api, data: bytes, name: str, content_type: str) -> dict[str, Any]:
    response = await api.client.post(f"{api.herald.url('media')}/v1/media", files={"file": (name, data, content_type)})
    assert response.status_code == 201, response.text
    item: dict[str, Any] = response.json()
    return item


async def upload_resumably(api: Api, data: bytes) -> dict[str, Any]:
    """Declare the upload, send a third, lose the rest half way, ask HEAD where to resume, send the rest."""
    media = api.herald.url("media")
    upload = await api.json(
        "POST",
        f"{media}/v1/uploads",
        json={"size_bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(), "filename": "clip.mp4"},
    )
    url, total, third = upload["upload_url"], len(data), len(data) // 3
    first = await api.client.put(url, content=data[:third], headers={"Content-Range": f"bytes 0-{third - 1}/{total}"})
    assert first.status_code == 200, first.text

    async def cut_short() -> AsyncIterator[bytes]:  # the connection drops mid-chunk: none of it may be kept
        yield data[third : third + 4096]
        raise ConnectionResetError("the network went away")

    with pytest.raises((httpx.HTTPError, ConnectionResetError)):
        await api.client.put(url, content=cut_short(), headers={"Content-Range": f"bytes {third}-{total - 1}/{total}"})
    head = await api.client.head(url)
    assert head.status_code == 200
    offset = int(head.headers["Upload-Offset"])
    assert (offset, int(head.headers["Upload-Length"])) == (third, total)
    rest = await api.client.put(
        url, content=data[offset:], headers={"Content-Range": f"bytes {offset}-{total - 1}/{total}"}
    )
    assert rest.status_code == 201, rest.text
    item: dict[str, Any] = rest.json()
    return item


async def new_content(api: Api, text: str, media: list[tuple[dict[str, Any], str | None]]) -> str:
    body = {"title": "E2E media", "text": text, "media": [{"media_id": m["id"], "alt_text": alt} for m, alt in media]}
    content = await api.json("POST", f"{api.herald.url('scheduler')}/v1/contents", json=body)
    assert [m["media_id"] for m in content["media"]] == [m["id"] for m, _ in media]
    await api.json("POST", f"{api.herald.url('scheduler')}/v1/contents/{content['content_id']}/approve")
    return str(content["content_id"])


async def try_schedule(api: Api, content_id: str, account: dict[str, Any], delay: float) -> httpx.Response:
    body = {
        "content_id": content_id,
        "platform": account["platform"],
        "account_id": str(account["id"]),
        "publish_at": (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=delay)).isoformat(),
        "retry": {"max_attempts": 3, "base_delay_seconds": 1},
    }

    async def answered() -> httpx.Response | None:
        response = await api.client.post(f"{api.herald.url('scheduler')}/v1/distributions", json=body)
        # the scheduler learns about accounts from AccountConnected events: unknown to it until then
        unknown = response.status_code == 422 and "account" in response.text and "media" not in response.text
        return None if unknown else response

    response = await eventually(answered, within=15, interval=0.1, what="the account known to the scheduler")
    assert response is not None
    return response


async def schedule(api: Api, content_id: str, account: dict[str, Any], delay: float) -> str:
    response = await try_schedule(api, content_id, account, delay)
    assert response.status_code == 201, response.text
    return str(response.json()["distribution_id"])


async def sandbox_get(api: Api, platform: Platform, path: str, **params: str) -> Any:
    async with httpx.AsyncClient(base_url=api.herald.sandbox(platform), timeout=30) as sandbox:
        response = await sandbox.get(path, params=params)
        response.raise_for_status()
        return response.json()


async def audit_rows(api: Api, **params: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        query = {**params, "limit": "100", **({"cursor": cursor} if cursor else {})}
        page = await api.json("GET", f"{api.herald.url('audit')}/v1/audit/events", params=query)
        rows.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return rows


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
async def journey(api: Api, herald_env: tuple[dict[str, str], Path]) -> AsyncIterator[Journey]:
    herald = api.herald
    async with await aio_pika.connect_robust(herald_env[0]["HERALD_AMQP_URL"]) as connection:
        channel = await connection.channel()
        exchange = await channel.get_exchange(EVENTS_EXCHANGE)
        tap = await channel.declare_queue(exclusive=True, auto_delete=True)
        await tap.bind(exchange, "#")  # every event of the journey, as published

        # 1. Connect: X, LinkedIn (member + organisations), Meta (the Page and its Instagram account).
        connected = [account for p in Platform for account in await connect(api, p)]
        assert {a["status"] for a in connected} == {"active"}
        accounts = {
            "x": next(a for a in connected if a["platform"] == "x"),
            "linkedin": next(a for a in connected if a["platform"] == "linkedin"),
            "page": next(a for a in connected if a["platform"] == "meta" and a["surface"] == "facebook_page"),
            "instagram": next(a for a in connected if a["platform"] == "meta" and a["surface"] == "instagram"),
        }

        # 2. Upload: three JPEGs and a PNG over multipart, a video resumably.
        colours = [(200, 30, 30), (30, 200, 30), (30, 30, 200)]
        images = [image("JPEG", 1080, 1080, colour=c) for c in colours]
        jpegs = [await upload_image(api, data, f"square-{i}.jpg", "image/jpeg") for i, data in enumerate(images)]
        png = await upload_image(api, image("PNG", 800, 600), "chart.png", "image/png")
        clip_bytes = mp4(1280, 720, duration=4000, mdat_bytes=300_000)
        clip = await upload_resumably(api, clip_bytes)

        # 3. Content; the rule breakers are refused at scheduling time.
        run = uuid.uuid4().hex[:8]
        photos = await new_content(api, f"Three squares {run}", list(zip(jpegs, ALTS, strict=True)))
        video = await new_content(api, f"A clip {run}", [(clip, None)])
        extra = await upload_image(api, image("JPEG", 1080, 1080, colour=(90, 90, 90)), "grey.jpg", "image/jpeg")
        five = await new_content(api, f"Five images {run}", [(m, None) for m in [*jpegs, png, extra]])
        with_png = await new_content(api, f"With a PNG {run}", [(jpegs[0], None), (png, "A chart")])
        refusals = {
            "x: 5 images": await try_schedule(api, five, accounts["x"], delay=3600),
            "instagram: a PNG": await try_schedule(api, with_png, accounts["instagram"], delay=3600),
        }

        # 4. A held item: its DELETE is refused while a distribution is scheduled, accepted once it is cancelled.
        held = await schedule(api, with_png, accounts["x"], delay=3600)
        delete_refused = await api.client.delete(f"{herald.url('media')}/v1/media/{png['id']}")
        await api.json("POST", f"{herald.url('scheduler')}/v1/distributions/{held}/cancel")
        delete_after_cancel = await api.client.delete(f"{herald.url('media')}/v1/media/{png['id']}")

        # 5. Publish: the images on X, LinkedIn and the Page; a carousel on Instagram; the video on X.
        distributions = {
            "x": await schedule(api, photos, accounts["x"], delay=2),
            "linkedin": await schedule(api, photos, accounts["linkedin"], delay=2),
            "page": await schedule(api, photos, accounts["page"], delay=2),
            "instagram": await schedule(api, photos, accounts["instagram"], delay=2),
            "x video": await schedule(api, video, accounts["x"], delay=2),
        }
        outcomes = {name: await settle(api, d, timeout=120) for name, d in distributions.items()}

        journey = Journey(
            accounts, jpegs, images, png, clip, clip_bytes, refusals, held, delete_refused, delete_after_cancel,
            distributions, outcomes,
        )  # fmt: skip

        async def audited() -> bool:  # the audit service records the outcomes a moment after the scheduler sees them
            published = await audit_rows(api, action="content_published")
            return {row["entity_id"] for row in published} >= set(distributions.values())

        await eventually(audited, within=30, interval=0.3, what="every publication audited")
        while (message := await tap.get(fail=False, no_ack=True)) is not None:
            journey.events.append(repr(message.headers).encode() + b" " + message.body)
        yield journey


async def test_every_distribution_is_published(journey: Journey) -> None:
    statuses = {name: outcome["status"] for name, outcome in journey.outcomes.items()}
    assert statuses == dict.fromkeys(journey.distributions, "published"), journey.outcomes


async def test_x_posts_carry_exactly_the_uploaded_media_in_order_with_alt_texts(api: Api, journey: Journey) -> None:
    uploads = {u["id"]: u for u in await sandbox_get(api, Platform.X, "/_sandbox/media")}
    posts = {p["id"]: p for p in await sandbox_get(api, Platform.X, "/_sandbox/posts")}
    photos = posts[journey.outcomes["x"]["external_post_id"]]
    sent = [uploads[media_id] for media_id in photos["media_ids"]]
    assert [u["sha256"] for u in sent] == [sha(data) for data in journey.images]
    assert [u["alt_text"] for u in sent] == list(ALTS)
    clip = posts[journey.outcomes["x video"]["external_post_id"]]
    [video] = [uploads[media_id] for media_id in clip["media_ids"]]
    assert (video["sha256"], video["media_category"], video["state"]) == (
        sha(journey.clip_bytes),
        "tweet_video",
        "succeeded",
    )


async def test_the_linkedin_post_carries_exactly_the_uploaded_images_in_order_with_alt_texts(
    api: Api, journey: Journey
) -> None:
    assets = {a["id"]: a for a in (await sandbox_get(api, Platform.LINKEDIN, "/_sandbox/linkedin/media"))["assets"]}
    posts = {p["id"]: p for p in await sandbox_get(api, Platform.LINKEDIN, "/_sandbox/posts")}
    post = posts[journey.outcomes["linkedin"]["external_post_id"]]
    images = post["content"]["multiImage"]["images"]
    assert [assets[i["id"]]["sha256"] for i in images] == [sha(data) for data in journey.images]
    assert [i.get("altText") for i in images] == list(ALTS)


async def test_the_page_post_carries_exactly_the_uploaded_photos_in_order(api: Api, journey: Journey) -> None:
    uploads = {u["id"]: u for u in await sandbox_get(api, Platform.META, "/_sandbox/meta/uploads")}
    posts = {p["id"]: p for p in await sandbox_get(api, Platform.META, "/_sandbox/posts")}
    post = posts[journey.outcomes["page"]["external_post_id"]]
    assert [uploads[photo]["sha256"] for photo in post["attached_media"]] == [sha(data) for data in journey.images]


async def test_the_instagram_carousel_carries_exactly_the_uploaded_images_in_order_with_alt_texts(
    api: Api, journey: Journey
) -> None:
    containers = {c["id"]: c for c in await sandbox_get(api, Platform.META, "/_sandbox/meta/containers")}
    [carousel] = [c for c in containers.values() if c["media_type"] == "CAROUSEL" and c["status_code"] == "PUBLISHED"]
    children = [containers[child] for child in carousel["children"]]
    assert [c["sha256"] for c in children] == [sha(data) for data in journey.images]
    # Instagram takes alt text on single-image posts only, not on carousel items (Content Publishing guide)
    assert [c["alt_text"] for c in children] == [None, None, None]


async def test_scheduling_against_a_media_rule_is_refused_naming_it(journey: Journey) -> None:
    too_many, png = journey.refusals["x: 5 images"], journey.refusals["instagram: a PNG"]
    assert too_many.status_code == 422, too_many.text
    assert "x.media_count" in too_many.text, too_many.text
    assert png.status_code == 422, png.text
    assert "instagram.image_format" in png.text, png.text


async def test_a_held_media_item_is_deleted_only_once_its_distribution_is_cancelled(api: Api, journey: Journey) -> None:
    assert journey.delete_refused.status_code == 409, journey.delete_refused.text
    holders = journey.delete_refused.json()["distributions"]
    assert [h["distribution_id"] for h in holders] == [journey.held]
    assert journey.delete_after_cancel.status_code == 204, journey.delete_after_cancel.text
    gone = await api.client.get(f"{api.herald.url('media')}/v1/media/{journey.png['id']}")
    assert gone.status_code == 404


async def test_the_audit_log_has_the_media_and_publish_events(api: Api, journey: Journey) -> None:
    uploaded = {row["entity_id"] for row in await audit_rows(api, action="media_uploaded")}
    assert uploaded >= {m["id"] for m in [*journey.jpegs, journey.png, journey.clip]}

    async def deleted() -> set[str]:
        return {row["entity_id"] for row in await audit_rows(api, action="media_deleted")}

    assert await eventually(deleted, within=20, interval=0.3, what="the deletion audited") == {journey.png["id"]}
    for name, distribution in journey.distributions.items():
        url = f"{api.herald.url('audit')}/v1/audit/distributions/{distribution}/timeline"
        actions = [row["action"] for row in (await api.json("GET", url))["items"]]
        assert actions == ["distribution_scheduled", "publish_requested", "content_published"], (name, actions)
    cancelled = [row["action"] for row in await audit_rows(api, entity_id=journey.held)]
    assert "distribution_cancelled" in cancelled, cancelled


async def test_no_secret_in_events_audit_rows_or_logs(api: Api, journey: Journey) -> None:
    herald = api.herald
    envs = {name: child.entry.env for name, child in herald.starter.children.items()}
    secrets = {"object store secret key": envs["media"]["HERALD_OBJECTSTORE_SECRET_ACCESS_KEY"]}
    for platform in Platform:  # the access tokens the publishers used, asked for as a publisher does
        credential = envs[f"publisher-{platform.value}"]["HERALD_SERVICE_TOKEN"]
        for name, account in journey.accounts.items():
            if account["platform"] != platform.value:
                continue
            answer = await api.client.get(
                f"{herald.url('tokens')}/internal/v1/accounts/{account['id']}/access-token",
                headers={"Authorization": f"Bearer {credential}"},
            )
            assert answer.status_code == 200, answer.text
            secrets[f"{name} access token"] = answer.json()["access_token"]
    # the presigned URLs Instagram fetched (the sandbox keeps them): their signatures must show nowhere in Herald
    containers = await sandbox_get(api, Platform.META, "/_sandbox/meta/containers")
    signatures = {s for c in containers if c["url"] for s in SIGNATURE.findall(c["url"])}
    assert len(signatures) >= 3, containers  # one per carousel item at least
    for n, signature in enumerate(sorted(signatures)):
        secrets[f"presigned URL signature {n}"] = signature

    events = b"\n".join(journey.events).decode()
    assert "com.herald.media.uploaded" in events, events[:2000]  # the tap saw the journey's events
    rows = str(await audit_rows(api))
    logs = {name: herald.output(name) for name in herald.starter.children if not name.startswith("sandbox")}
    for what, secret in secrets.items():
        assert len(secret) >= 16, what
        assert secret not in events, f"{what} in an event"
        assert secret not in rows, f"{what} in an audit row"
        for name, log in logs.items():
            assert secret not in log, f"{what} in {name}'s log"
    for text in [events, rows, *logs.values()]:
        assert not SIGNATURE.search(text), "a presigned URL signature leaked"
