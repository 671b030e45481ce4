"""Content with media: ids resolved by the media service (a stand-in over HTTP), each platform's media rules per
surface at scheduling time, the references in PublishRequested v2, and the holders the media service asks about."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
import pytest

from herald.contracts.accounts import AccountReauthRequired
from herald.contracts.media import MediaKind, MediaReference, Surface
from herald.contracts.platform import Platform
from herald.contracts.publishing import PublishRequested
from herald.kit.auth import new_service_credential
from herald.scheduler.media_client import MediaClient, MediaUnavailable
from tests.scheduler.support import (
    MEDIA_CALLER,
    Broker,
    Instance,
    Team,
    account_event,
    new_team,
    now,
    wait_for_account,
    wait_processed,
    watching,
)
from tests.support.media_standin import MediaStandIn
from tests.support.servers import closed_port


def _media(*refs: MediaReference, alt: str | None = None) -> list[dict[str, Any]]:
    return [{"media_id": str(ref.media_id), "alt_text": alt} for ref in refs]


async def _content(client: httpx.AsyncClient, team: Team, media: list[dict[str, Any]], approve: bool = True) -> str:
    created = await client.post(
        "/v1/contents", json={"title": "Spring", "text": "Spring launch.", "media": media}, headers=team.headers
    )
    assert created.status_code == 201, created.text
    content_id = str(created.json()["content_id"])
    if approve:
        approved = await client.post(f"/v1/contents/{content_id}/approve", headers=team.headers)
        assert approved.status_code == 200, approved.text
    return content_id


def _schedule_body(content_id: str, platform: Platform, account: uuid.UUID, **extra: Any) -> dict[str, Any]:
    when = now() + dt.timedelta(days=1)
    return {
        "content_id": content_id,
        "platform": platform.value,
        "account_id": str(account),
        "publish_at": when.isoformat(),
    } | extra


async def test_content_keeps_the_resolved_media_in_order_with_alt_texts(
    client: httpx.AsyncClient, team: Team, media: MediaStandIn
) -> None:
    first, second = media.add(team.team_id), media.add(team.team_id, MediaKind.GIF, content_type="image/gif")
    body = [
        {"media_id": str(second.media_id), "alt_text": "An animated chart"},
        {"media_id": str(first.media_id)},
    ]
    created = await client.post(
        "/v1/contents", json={"title": "T", "text": "Text", "media": body}, headers=team.headers
    )
    assert created.status_code == 201, created.text
    items = created.json()["media"]
    assert [i["media_id"] for i in items] == [str(second.media_id), str(first.media_id)]
    assert [i["alt_text"] for i in items] == ["An animated chart", None]
    assert items[0]["kind"] == "gif"
    assert items[0]["sha256"] == second.sha256
    assert "storage_key" not in items[0]
    assert media.calls[-1] == {"team_id": str(team.team_id), "media_ids": [str(second.media_id), str(first.media_id)]}
    read = await client.get(f"/v1/contents/{created.json()['content_id']}", headers=team.headers)
    assert read.json()["media"] == items


async def test_text_only_content_never_calls_the_media_service(
    client: httpx.AsyncClient, team: Team, media: MediaStandIn
) -> None:
    before = len(media.calls)
    created = await client.post("/v1/contents", json={"title": "T", "text": "Text"}, headers=team.headers)
    assert created.status_code == 201
    assert created.json()["media"] == []
    assert len(media.calls) == before


async def test_unknown_and_other_teams_media_ids_are_a_422_listing_them(
    client: httpx.AsyncClient, team: Team, media: MediaStandIn
) -> None:
    other = await new_team(client)
    mine, theirs, unknown = media.add(team.team_id), media.add(other.team_id), uuid.uuid4()
    body = [{"media_id": str(mine.media_id)}, {"media_id": str(theirs.media_id)}, {"media_id": str(unknown)}]
    response = await client.post("/v1/contents", json={"title": "T", "text": "x", "media": body}, headers=team.headers)
    assert response.status_code == 422
    [problem] = response.json()["detail"]
    assert problem["loc"] == ["body", "media"]
    assert str(theirs.media_id) in problem["msg"]
    assert str(unknown) in problem["msg"]
    assert str(mine.media_id) not in problem["msg"]


@pytest.mark.parametrize(
    ("media_field", "where"),
    [
        (lambda ids: [{"media_id": ids[0]}, {"media_id": ids[0]}], "listed twice"),
        (lambda ids: [{"media_id": str(uuid.uuid4())} for _ in range(11)], "at most 10"),
        (lambda ids: [{"media_id": ids[0], "alt_text": "a" * 1001}], "at most 1000"),
        (lambda ids: [{"media_id": ids[0], "storage_key": "teams/x"}], "Extra inputs"),
    ],
    ids=["duplicate", "eleven", "alt_text_too_long", "unknown_field"],
)
async def test_malformed_media_lists_are_a_422(
    client: httpx.AsyncClient, team: Team, media: MediaStandIn, media_field: Any, where: str
) -> None:
    ids = [str(media.add(team.team_id).media_id)]
    response = await client.post(
        "/v1/contents", json={"title": "T", "text": "x", "media": media_field(ids)}, headers=team.headers
    )
    assert response.status_code == 422, response.text
    assert where in response.text
    assert response.json()["detail"][0]["loc"][:2] == ["body", "media"]


async def test_a_media_service_that_cannot_answer_is_a_503_never_a_500(
    client: httpx.AsyncClient, team: Team, media: MediaStandIn
) -> None:
    item = media.add(team.team_id)
    media.status = 500
    try:
        response = await client.post(
            "/v1/contents", json={"title": "T", "text": "x", "media": _media(item)}, headers=team.headers
        )
    finally:
        media.status = 200
    assert response.status_code == 503
    assert response.headers["retry-after"].isdigit()
    assert "media" in response.json()["detail"]


async def test_an_unreachable_media_service_is_unavailable() -> None:
    with closed_port() as port:
        async with httpx.AsyncClient() as http:
            client = MediaClient(http, f"http://127.0.0.1:{port}", "svc_scheduler_x", timeout_seconds=2)
            with pytest.raises(MediaUnavailable, match="unreachable"):
                await client.resolve(uuid.uuid4(), [uuid.uuid4()])
            without = MediaClient(http, f"http://127.0.0.1:{port}", None, timeout_seconds=2)
            with pytest.raises(MediaUnavailable, match="no credential"):
                await without.resolve(uuid.uuid4(), [uuid.uuid4()])


async def test_scheduling_checks_the_platforms_media_rules_per_surface(
    scheduler: Instance, client: httpx.AsyncClient, team: Team, media: MediaStandIn, broker: Broker
) -> None:
    x = await broker.connect_account(scheduler.engine, team, Platform.X)
    page = await broker.connect_account(scheduler.engine, team, Platform.META)  # no surface: a Facebook Page
    insta = await broker.connect_account(scheduler.engine, team, Platform.META, surface=Surface.INSTAGRAM)
    five = await _content(client, team, _media(*(media.add(team.team_id) for _ in range(5))))
    text_only = await _content(client, team, [])
    png = await _content(client, team, _media(media.add(team.team_id, content_type="image/png")))

    cases = [
        (five, Platform.X, x, "x.media_count"),
        (text_only, Platform.META, insta, "instagram.media_required"),
        (png, Platform.META, insta, "instagram.image_format"),
    ]
    for content_id, platform, account, rule in cases:
        response = await client.post(
            "/v1/distributions", json=_schedule_body(content_id, platform, account), headers=team.headers
        )
        assert response.status_code == 422, (rule, response.text)
        [problem] = response.json()["detail"]
        assert problem["loc"] == ["body", "media"]
        assert rule in problem["msg"]
    # The same content passes where its platform and surface allow it.
    for content_id, platform, account in [(five, Platform.META, page), (png, Platform.META, page)]:
        ok = await client.post(
            "/v1/distributions", json=_schedule_body(content_id, platform, account), headers=team.headers
        )
        assert ok.status_code == 201, ok.text


async def test_bulk_scheduling_names_each_item_that_breaks_a_media_rule(
    scheduler: Instance, client: httpx.AsyncClient, team: Team, media: MediaStandIn, broker: Broker
) -> None:
    x = await broker.connect_account(scheduler.engine, team, Platform.X)
    linkedin = await broker.connect_account(scheduler.engine, team, Platform.LINKEDIN)
    insta = await broker.connect_account(scheduler.engine, team, Platform.META, surface=Surface.INSTAGRAM)
    mixed = await _content(client, team, _media(media.add(team.team_id), media.add(team.team_id, MediaKind.VIDEO)))
    items = [
        _schedule_body(mixed, Platform.X, x),
        _schedule_body(mixed, Platform.LINKEDIN, linkedin),
        _schedule_body(mixed, Platform.META, insta),  # a carousel of an image and a video: fine on Instagram
    ]
    response = await client.post("/v1/distributions/bulk", json={"items": items}, headers=team.headers)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert [p["loc"] for p in detail] == [["body", "items", 0, "media"], ["body", "items", 1, "media"]]
    assert "x.media_mixed" in detail[0]["msg"]
    assert "linkedin.media_mixed" in detail[1]["msg"]


async def test_publish_requested_v2_carries_the_surface_and_the_references_in_order(
    amqp_url: str, scheduler: Instance, client: httpx.AsyncClient, team: Team, media: MediaStandIn, broker: Broker
) -> None:
    insta = await broker.connect_account(scheduler.engine, team, Platform.META, surface=Surface.INSTAGRAM)
    image = media.add(team.team_id, width=1080, height=1350)
    video = media.add(team.team_id, MediaKind.VIDEO, duration_ms=30_000)
    body = [{"media_id": str(video.media_id), "alt_text": "A teaser"}, {"media_id": str(image.media_id)}]
    content_id = await _content(client, team, body)
    async with watching(amqp_url, "publish.requested.v2.meta") as watch:
        scheduled = await client.post(
            "/v1/distributions", json=_schedule_body(content_id, Platform.META, insta), headers=team.headers
        )
        assert scheduled.status_code == 201, scheduled.text
        distribution_id = uuid.UUID(scheduled.json()["distribution_id"])
        assert (await client.post(f"/v1/distributions/{distribution_id}/publish-now", headers=team.headers)).is_success
        [request] = await watch.wait_for(PublishRequested, distribution_id=distribution_id)
    assert request.surface is Surface.INSTAGRAM
    assert request.media == [video.model_copy(update={"alt_text": "A teaser"}), image]
    assert request.media[0].storage_key == f"teams/{team.team_id}/media/{video.media_id}"


async def test_a_facebook_page_without_a_surface_is_requested_as_one(
    amqp_url: str, scheduler: Instance, client: httpx.AsyncClient, team: Team, broker: Broker
) -> None:
    page = await broker.connect_account(scheduler.engine, team, Platform.META)
    content_id = await _content(client, team, [])
    async with watching(amqp_url, "publish.requested.v2.meta") as watch:
        scheduled = await client.post(
            "/v1/distributions", json=_schedule_body(content_id, Platform.META, page), headers=team.headers
        )
        distribution_id = uuid.UUID(scheduled.json()["distribution_id"])
        await client.post(f"/v1/distributions/{distribution_id}/publish-now", headers=team.headers)
        [request] = await watch.wait_for(PublishRequested, distribution_id=distribution_id)
    assert (request.surface, request.media) == (Surface.FACEBOOK_PAGE, [])


async def test_editing_media_is_checked_against_scheduled_distributions(
    scheduler: Instance, client: httpx.AsyncClient, team: Team, media: MediaStandIn, broker: Broker
) -> None:
    x = await broker.connect_account(scheduler.engine, team, Platform.X)
    content_id = await _content(client, team, _media(media.add(team.team_id)))
    scheduled = await client.post(
        "/v1/distributions", json=_schedule_body(content_id, Platform.X, x), headers=team.headers
    )
    assert scheduled.status_code == 201
    too_many = _media(*(media.add(team.team_id) for _ in range(5)))
    refused = await client.patch(f"/v1/contents/{content_id}", json={"media": too_many}, headers=team.headers)
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["body", "media"]
    assert "x.media_count" in refused.json()["detail"][0]["msg"]

    video = media.add(team.team_id, MediaKind.VIDEO)
    changed = await client.patch(
        f"/v1/contents/{content_id}", json={"media": _media(video, alt="New teaser")}, headers=team.headers
    )
    assert changed.status_code == 200, changed.text
    assert [(i["media_id"], i["alt_text"]) for i in changed.json()["media"]] == [(str(video.media_id), "New teaser")]
    assert changed.json()["status"] == "draft"  # edited after approval
    cleared = await client.patch(f"/v1/contents/{content_id}", json={"media": []}, headers=team.headers)
    assert cleared.json()["media"] == []
    untouched = await client.patch(f"/v1/contents/{content_id}", json={"title": "New"}, headers=team.headers)
    assert untouched.json()["media"] == []


async def test_scheduling_content_whose_media_were_deleted_since_is_a_422(
    scheduler: Instance, client: httpx.AsyncClient, team: Team, media: MediaStandIn, broker: Broker
) -> None:
    x = await broker.connect_account(scheduler.engine, team, Platform.X)
    kept, deleted = media.add(team.team_id), media.add(team.team_id)
    content_id = await _content(client, team, _media(kept, deleted))
    del media.items[(team.team_id, deleted.media_id)]  # a draft does not hold its media: the item could be deleted
    response = await client.post(
        "/v1/distributions", json=_schedule_body(content_id, Platform.X, x), headers=team.headers
    )
    assert response.status_code == 422
    [problem] = response.json()["detail"]
    assert problem["loc"] == ["body", "content_id"]
    assert str(deleted.media_id) in problem["msg"]
    assert str(kept.media_id) not in problem["msg"]
    media.status = 503
    try:
        unavailable = await client.post(
            "/v1/distributions", json=_schedule_body(content_id, Platform.X, x), headers=team.headers
        )
    finally:
        media.status = 200
    assert unavailable.status_code == 503


async def _holders(client: httpx.AsyncClient, media_id: uuid.UUID, team_id: uuid.UUID, token: str) -> httpx.Response:
    return await client.get(
        f"/internal/v1/media/{media_id}/holders",
        params={"team_id": str(team_id)},
        headers={"Authorization": f"Bearer {token}"},
    )


async def test_holders_are_the_unfinished_distributions_using_the_item(
    scheduler: Instance, client: httpx.AsyncClient, team: Team, media: MediaStandIn, broker: Broker
) -> None:
    token, _ = MEDIA_CALLER
    x = await broker.connect_account(scheduler.engine, team, Platform.X)
    item, unused = media.add(team.team_id), media.add(team.team_id)
    content_id = await _content(client, team, _media(item))
    later = await client.post("/v1/distributions", json=_schedule_body(content_id, Platform.X, x), headers=team.headers)
    sooner_body = _schedule_body(content_id, Platform.X, x, publish_at=(now() + dt.timedelta(hours=1)).isoformat())
    sooner = await client.post("/v1/distributions", json=sooner_body, headers=team.headers)

    answer = await _holders(client, item.media_id, team.team_id, token)
    assert answer.status_code == 200, answer.text
    holders = answer.json()["distributions"]
    assert [h["distribution_id"] for h in holders] == [
        sooner.json()["distribution_id"],
        later.json()["distribution_id"],
    ]
    assert {(h["content_id"], h["status"]) for h in holders} == {(content_id, "scheduled")}
    assert (await _holders(client, unused.media_id, team.team_id, token)).json() == {"distributions": []}
    other = await new_team(client)
    assert (await _holders(client, item.media_id, other.team_id, token)).json() == {"distributions": []}

    for d in (sooner, later):
        await client.post(f"/v1/distributions/{d.json()['distribution_id']}/cancel", headers=team.headers)
    assert (await _holders(client, item.media_id, team.team_id, token)).json() == {"distributions": []}


async def test_only_the_media_service_may_ask_for_holders(client: httpx.AsyncClient, team: Team) -> None:
    media_id = uuid.uuid4()
    no_key = await client.get(f"/internal/v1/media/{media_id}/holders", params={"team_id": str(team.team_id)})
    assert no_key.status_code == 401
    team_key = team.headers["Authorization"].removeprefix("Bearer ")
    assert (await _holders(client, media_id, team.team_id, team_key)).status_code == 401
    unknown_service, _ = new_service_credential("publisher-x")
    assert (await _holders(client, media_id, team.team_id, unknown_service)).status_code == 401
    missing_team = await client.get(
        f"/internal/v1/media/{media_id}/holders", headers={"Authorization": f"Bearer {MEDIA_CALLER[0]}"}
    )
    assert missing_team.status_code == 422


async def test_a_later_account_event_without_a_surface_keeps_the_accounts_surface(
    scheduler: Instance, client: httpx.AsyncClient, team: Team, broker: Broker
) -> None:
    insta = await broker.connect_account(scheduler.engine, team, Platform.META, surface=Surface.INSTAGRAM)
    reauth = account_event(AccountReauthRequired, team, Platform.META, insta)
    await wait_processed(scheduler.engine, await broker.publish(reauth))
    await wait_for_account(scheduler.engine, insta, "reauth_required")
    text_only = await _content(client, team, [])
    response = await client.post(
        "/v1/distributions", json=_schedule_body(text_only, Platform.META, insta), headers=team.headers
    )
    assert response.status_code == 422
    assert "instagram.media_required" in response.json()["detail"][0]["msg"]
