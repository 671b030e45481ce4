"""The media library's team API end to end: real HTTP, PostgreSQL, RabbitMQ (events), the object store."""

from __future__ import annotations

import hashlib
import uuid

from prometheus_client import CollectorRegistry
from sqlalchemy import text

from herald.contracts.envelope import service_source, to_amqp
from herald.media.cleanup import Cleanup
from herald.media.events import EventWriter
from herald.media.metrics import MediaMetrics
from tests.media import samples
from tests.media.conftest import EventLog, Harness


async def test_an_image_upload_is_typed_from_its_bytes_measured_and_stored(
    harness: Harness, event_log: EventLog
) -> None:
    team_id, team = await harness.team()
    data = samples.image("PNG", 64, 48)
    answer = await harness.upload(team, data, filename="../../holiday.jpg")  # the name says JPEG, the bytes PNG
    assert answer.status_code == 201, answer.text
    item = answer.json()
    assert item["kind"] == "image"
    assert item["content_type"] == "image/png"
    assert (item["width"], item["height"], item["duration_ms"]) == (64, 48, None)
    assert item["size_bytes"] == len(data)
    assert item["sha256"] == hashlib.sha256(data).hexdigest()
    assert item["filename"] == "holiday.jpg"
    key = f"teams/{team_id}/media/{item['id']}"
    assert await harness.store.get_range(key, 0, len(data) - 1) == data
    shown = await harness.client.get(f"{harness.url}/v1/media/{item['id']}", headers=team)
    assert shown.json() == item
    event = await event_log.wait_for("media.uploaded", media_id=item["id"])
    assert event["team_id"] == str(team_id)
    assert event["storage_key"] == key
    assert event["actor"].startswith("api_key:")


async def test_a_video_upload_records_dimensions_and_duration(harness: Harness) -> None:
    _, team = await harness.team()
    data = samples.mp4(1080, 1920, timescale=90_000, duration=90_000 * 12, salt=uuid.uuid4().bytes)
    answer = await harness.upload(team, data, filename="clip.mp4")
    assert answer.status_code == 201, answer.text
    item = answer.json()
    assert (item["kind"], item["content_type"]) == ("video", "video/mp4")
    assert (item["width"], item["height"], item["duration_ms"]) == (1080, 1920, 12_000)


async def test_a_large_video_is_stored_in_parts(harness: Harness) -> None:
    _, team = await harness.team()
    data = samples.mp4(640, 360, mdat_bytes=12 * 1024 * 1024, salt=uuid.uuid4().bytes)  # moov after 12 MiB
    answer = await harness.upload(team, data)
    assert answer.status_code == 201, answer.text
    item = answer.json()
    assert (item["width"], item["height"], item["size_bytes"]) == (640, 360, len(data))
    [row] = await harness.rows("SELECT team_id FROM media WHERE id = :i", i=uuid.UUID(item["id"]))
    stored = await harness.store.head(f"teams/{row['team_id']}/media/{item['id']}")
    assert stored is not None
    assert stored.size == len(data)


async def test_the_same_bytes_twice_are_one_item(harness: Harness) -> None:
    team_id, team = await harness.team()
    data = samples.image("JPEG", 30, 20, colour=(1, 2, 3))
    first = await harness.upload(team, data, filename="a.jpg")
    second = await harness.upload(team, data, filename="b.jpg")
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json()["id"] == first.json()["id"]
    keys = [o.key async for o in harness.store.list(f"teams/{team_id}/media/")]
    assert keys == [f"teams/{team_id}/media/{first.json()['id']}"]
    _, other_team = await harness.team()  # another team's identical bytes are its own item
    third = await harness.upload(other_team, data)
    assert third.status_code == 201
    assert third.json()["id"] != first.json()["id"]


async def test_unsupported_bytes_are_refused_naming_what_they_are(harness: Harness) -> None:
    _, team = await harness.team()
    answer = await harness.upload(team, b"%PDF-1.7\n1 0 obj\n", filename="photo.jpg")
    assert answer.status_code == 422
    [problem] = answer.json()["detail"]
    assert problem["loc"] == ["body", "file"]
    assert problem["detected"] == "a PDF document"
    assert "a PDF document" in problem["msg"]
    metrics = (await harness.client.get(f"{harness.url}/metrics")).text
    refused = next(line for line in metrics.splitlines() if 'uploads_refused_total{reason="unsupported_type"}' in line)
    assert float(refused.rsplit(" ", 1)[1]) >= 1
    assert 'herald_media_upload_bytes_total{kind="image"}' in metrics
    assert "herald_media_upload_duration_seconds_bucket" in metrics


async def test_a_truncated_image_is_refused(harness: Harness) -> None:
    _, team = await harness.team()
    answer = await harness.upload(team, samples.image("GIF", 20, 20)[:40])
    assert answer.status_code == 422
    assert "malformed GIF" in answer.json()["detail"][0]["msg"]


async def test_an_image_over_the_image_limit_is_refused_with_413(harness: Harness) -> None:
    _, team = await harness.team()
    data = samples.image("PNG", 10, 10)
    oversized = data + b"\0" * (harness.settings.max_image_bytes + 1 - len(data))  # PNG allows trailing bytes
    answer = await harness.upload(team, oversized)
    assert answer.status_code == 413
    assert "image limit" in answer.json()["detail"]


async def test_a_missing_file_field_is_a_422_naming_it(harness: Harness) -> None:
    _, team = await harness.team()
    answer = await harness.client.post(f"{harness.url}/v1/media", headers=team, data={"alt_text": "x"})
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["body", "file"]


async def test_listing_pages_through_the_teams_items_newest_first(harness: Harness) -> None:
    _, team = await harness.team()
    ids = []
    for shade in range(5):
        answer = await harness.upload(team, samples.image("PNG", 8, 8, colour=(shade, 9, 9)))
        ids.append(answer.json()["id"])
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await harness.client.get(f"{harness.url}/v1/media", headers=team, params=params)).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))
    bad = await harness.client.get(f"{harness.url}/v1/media", headers=team, params={"cursor": "nonsense"})
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["query", "cursor"]


async def test_another_team_can_neither_see_nor_delete_an_item(harness: Harness) -> None:
    _, team_a = await harness.team()
    _, team_b = await harness.team()
    item = (await harness.upload(team_a, samples.image("WEBP", 12, 12, colour=(7, 7, 7)))).json()
    url = f"{harness.url}/v1/media/{item['id']}"
    assert (await harness.client.get(url, headers=team_b)).status_code == 404
    assert (await harness.client.delete(url, headers=team_b)).status_code == 404
    listed = (await harness.client.get(f"{harness.url}/v1/media", headers=team_b)).json()
    assert listed["items"] == []
    assert (await harness.client.get(url, headers=team_a)).status_code == 200
    assert (await harness.client.get(url)).status_code == 401


async def test_a_held_item_cannot_be_deleted_and_says_who_holds_it(harness: Harness, event_log: EventLog) -> None:
    team_id, team = await harness.team()
    item = (await harness.upload(team, samples.image("JPEG", 16, 16, colour=(5, 80, 5)))).json()
    holder = {
        "distribution_id": str(uuid.uuid4()),
        "content_id": str(uuid.uuid4()),
        "status": "scheduled",
        "scheduled_at": "2030-01-01T09:00:00Z",
    }
    harness.scheduler.holders[item["id"]] = [holder]
    url = f"{harness.url}/v1/media/{item['id']}"
    refused = await harness.client.delete(url, headers=team)
    assert refused.status_code == 409
    assert refused.json()["distributions"] == [holder]
    assert (str(team_id), item["id"]) in harness.scheduler.calls
    assert (await harness.client.get(url, headers=team)).json()["status"] == "ready"  # unmarked

    harness.scheduler.holders[item["id"]] = []
    assert (await harness.client.delete(url, headers=team)).status_code == 204
    assert (await harness.client.get(url, headers=team)).status_code == 404
    assert await harness.store.head(f"teams/{team_id}/media/{item['id']}") is None
    event = await event_log.wait_for("media.deleted", media_id=item["id"])
    assert event["reason"] == "deleted by user"


async def test_delete_with_the_scheduler_down_is_a_503_and_keeps_the_item(harness: Harness) -> None:
    team_id, team = await harness.team()
    item = (await harness.upload(team, samples.image("PNG", 16, 16, colour=(99, 1, 1)))).json()
    harness.scheduler.down = True
    try:
        answer = await harness.client.delete(f"{harness.url}/v1/media/{item['id']}", headers=team)
    finally:
        harness.scheduler.down = False
    assert answer.status_code == 503
    assert harness.scheduler.token not in answer.text
    shown = await harness.client.get(f"{harness.url}/v1/media/{item['id']}", headers=team)
    assert shown.json()["status"] == "ready"
    assert await harness.store.head(f"teams/{team_id}/media/{item['id']}") is not None


async def test_resolve_returns_references_in_order_and_names_the_missing(harness: Harness) -> None:
    team_id, team = await harness.team()
    first = (await harness.upload(team, samples.image("PNG", 10, 20, colour=(3, 3, 30)))).json()
    second = (await harness.upload(team, samples.mp4(salt=uuid.uuid4().bytes))).json()
    _, other = await harness.team()
    foreign = (await harness.upload(other, samples.image("PNG", 10, 20, colour=(3, 3, 31)))).json()
    unknown = str(uuid.uuid4())
    body = {"team_id": str(team_id), "media_ids": [second["id"], unknown, first["id"], foreign["id"]]}
    url = f"{harness.url}/internal/v1/media/resolve"
    answer = await harness.client.post(
        url, json=body, headers={"Authorization": f"Bearer {harness.scheduler_credential}"}
    )
    assert answer.status_code == 200, answer.text
    resolved = answer.json()
    assert [i["media_id"] for i in resolved["items"]] == [second["id"], first["id"]]
    assert resolved["missing"] == [unknown, foreign["id"]]
    video = resolved["items"][0]
    assert "alt_text" not in video
    assert video["storage_key"] == f"teams/{team_id}/media/{second['id']}"
    assert (video["kind"], video["content_type"], video["width"], video["duration_ms"]) == (
        "video",
        "video/mp4",
        1280,
        5000,
    )
    team_key = team["Authorization"]
    assert (await harness.client.post(url, json=body, headers={"Authorization": team_key})).status_code == 401


async def test_an_item_being_deleted_is_missing_to_resolve(harness: Harness) -> None:
    team_id, team = await harness.team()
    item = (await harness.upload(team, samples.image("PNG", 10, 10, colour=(4, 4, 40)))).json()
    async with harness.engine.begin() as conn:
        await conn.execute(text("UPDATE media SET status = 'deleting' WHERE id = :i"), {"i": uuid.UUID(item["id"])})
    body = {"team_id": str(team_id), "media_ids": [item["id"]]}
    answer = await harness.client.post(
        f"{harness.url}/internal/v1/media/resolve",
        json=body,
        headers={"Authorization": f"Bearer {harness.scheduler_credential}"},
    )
    assert answer.json() == {"items": [], "missing": [item["id"]]}
    again = await harness.client.delete(f"{harness.url}/v1/media/{item['id']}", headers=team)
    assert again.status_code == 409


async def test_an_item_left_deleting_by_a_crash_is_restored_by_the_cleanup(harness: Harness) -> None:
    _, team = await harness.team()
    item = (await harness.upload(team, samples.image("PNG", 10, 10, colour=(4, 4, 41)))).json()
    async with harness.engine.begin() as conn:
        await conn.execute(
            text("UPDATE media SET status = 'deleting', status_changed_at = now() - interval '1 hour' WHERE id = :i"),
            {"i": uuid.UUID(item["id"])},
        )
    writer = EventWriter(lambda event: to_amqp(event, source=service_source("media")))
    cleanup = Cleanup(harness.engine, harness.store, writer, MediaMetrics(CollectorRegistry()), harness.settings)
    report = await cleanup.sweep()
    assert report.restored >= 1
    shown = await harness.client.get(f"{harness.url}/v1/media/{item['id']}", headers=team)
    assert shown.json()["status"] == "ready"
