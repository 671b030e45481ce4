"""Every bad request answers 422 naming the field and the problem, and changes nothing."""

import datetime as dt
import uuid
from typing import Any

import httpx
import pytest

from herald.contracts.platform import Platform
from tests.scheduler.support import Broker, Instance, Team, new_team, now

LATER = (now() + dt.timedelta(days=30)).isoformat()


async def schedule(
    client: httpx.AsyncClient, team: Team, content: dict[str, Any], account: uuid.UUID, **fields: Any
) -> httpx.Response:
    body: dict[str, Any] = {
        "content_id": content["content_id"],
        "platform": "x",
        "account_id": str(account),
        "publish_at": LATER,
    }
    body |= fields
    return await client.post(
        "/v1/distributions", json={k: v for k, v in body.items() if v is not None}, headers=team.headers
    )


def problem(response: httpx.Response) -> tuple[list[str | int], str]:
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    return error["loc"], error["msg"]


@pytest.mark.parametrize(
    ("fields", "loc", "words"),
    [
        ({"platform": "myspace"}, ["body", "platform"], "'x', 'linkedin' or 'meta'"),
        (
            {"publish_at": None, "local_time": "2030-06-01T09:00:00", "timezone": "Mars/Olympus_Mons"},
            ["body", "timezone"],
            "unknown IANA time zone 'Mars/Olympus_Mons'",
        ),
        (
            {"publish_at": None, "local_time": "2030-03-31T02:30:00", "timezone": "Europe/Berlin"},
            ["body", "local_time"],
            "does not exist in Europe/Berlin",
        ),
        (
            {"publish_at": None, "local_time": "2030-10-27T02:30:00", "timezone": "Europe/Berlin"},
            ["body", "local_time"],
            "happens twice in Europe/Berlin",
        ),
        ({"publish_at": "2030-06-01T09:00:00"}, ["body", "publish_at"], "has no UTC offset"),
        ({"publish_at": "next tuesday"}, ["body", "publish_at"], "not an ISO-8601 date-time"),
        ({"local_time": "2030-06-01T09:00:00", "timezone": "UTC"}, ["body", "publish_at"], "either publish_at"),
        ({"publish_at": None, "local_time": "2030-06-01T09:00:00"}, ["body", "timezone"], "required with local_time"),
        ({"publish_at": None}, ["body", "publish_at"], "required"),
        (
            {"publish_at": None, "local_time": "2030-06-01T09:00:00+02:00", "timezone": "Europe/Berlin"},
            ["body", "local_time"],
            "must not carry a UTC offset",
        ),
        ({"dst_resolution": "whichever"}, ["body", "dst_resolution"], "'reject', 'earlier' or 'later'"),
        ({"publish_time": LATER}, ["body", "publish_time"], "Extra inputs are not permitted"),
        ({"retry": {"max_attempts": 0}}, ["body", "retry", "max_attempts"], "greater than or equal to 1"),
        ({"retry": {"max_attempts": True}}, ["body", "retry", "max_attempts"], "valid integer"),
        ({"misfire": {"window_seconds": False}}, ["body", "misfire", "window_seconds"], "valid integer"),
        ({"retry": {"base_delay_seconds": 0}}, ["body", "retry", "base_delay_seconds"], "greater than or equal"),
        ({"misfire": {"policy": "sometimes"}}, ["body", "misfire", "policy"], "'publish_late' or 'skip'"),
        ({"over_length": "shorten"}, ["body", "over_length"], "'reject', 'truncate' or 'thread'"),
        ({"account_id": "not-a-uuid"}, ["body", "account_id"], "valid UUID"),
    ],
)
async def test_bad_schedule_requests_name_the_field(
    client: httpx.AsyncClient,
    team: Team,
    content: dict[str, Any],
    x_account: uuid.UUID,
    fields: dict[str, Any],
    loc: list[str],
    words: str,
) -> None:
    where, message = problem(await schedule(client, team, content, x_account, **fields))
    assert where == loc
    assert words in message
    listed = await client.get("/v1/distributions", headers=team.headers)
    assert listed.json()["items"] == []  # nothing was scheduled


async def test_times_in_the_past_beyond_the_misfire_window_are_refused(
    client: httpx.AsyncClient, team: Team, content: dict[str, Any], x_account: uuid.UUID
) -> None:
    yesterday = (now() - dt.timedelta(hours=25)).isoformat()
    where, message = problem(await schedule(client, team, content, x_account, publish_at=yesterday))
    assert where == ["body", "publish_at"]
    assert "in the past, beyond the 86400 s that misfire policy publish_late allows" in message

    five_minutes_ago = (now() - dt.timedelta(minutes=5)).isoformat()
    where, message = problem(
        await schedule(client, team, content, x_account, publish_at=five_minutes_ago, misfire={"policy": "skip"})
    )
    assert where == ["body", "publish_at"]
    assert "beyond the 60 s that misfire policy skip allows" in message

    local = (now() - dt.timedelta(hours=2)).astimezone(dt.UTC).replace(tzinfo=None).isoformat()
    where, _ = problem(
        await schedule(
            client,
            team,
            content,
            x_account,
            publish_at=None,
            local_time=local,
            timezone="UTC",
            misfire={"window_seconds": 3600},
        )
    )
    assert where == ["body", "local_time"]

    # Within the window a past time is accepted (it is published late, at once).
    accepted = await schedule(
        client, team, content, x_account, publish_at=five_minutes_ago, misfire={"window_seconds": 600}
    )
    assert accepted.status_code == 201, accepted.text


async def test_content_breaking_the_platform_rules_is_refused_at_schedule_time(
    client: httpx.AsyncClient, broker: Broker, scheduler: Instance, team: Team, x_account: uuid.UUID
) -> None:
    long_text = "Herald " * 60  # 420 characters: over X's 280
    created = await client.post("/v1/contents", json={"title": "Long", "text": long_text}, headers=team.headers)
    content = created.json()
    where, message = problem(await schedule(client, team, content, x_account))
    assert where == ["body", "text"]
    assert "x:" in message
    assert "over the 280 limit" in message

    threaded = await schedule(client, team, content, x_account, over_length="thread")
    assert threaded.status_code == 201, threaded.text

    linkedin = await broker.connect_account(scheduler.engine, team, Platform.LINKEDIN)
    where, message = problem(
        await schedule(client, team, content, linkedin, platform="linkedin", over_length="truncate")
    )
    assert where == ["body", "over_length"]
    assert "only X" in message
    huge = await client.post("/v1/contents", json={"title": "Huge", "text": "a" * 3001}, headers=team.headers)
    where, message = problem(await schedule(client, team, huge.json(), linkedin, platform="linkedin"))
    assert where == ["body", "text"]
    assert "linkedin.commentary_length" in message


async def test_editing_text_is_checked_against_the_platforms_it_is_scheduled_on(
    client: httpx.AsyncClient, team: Team, content: dict[str, Any], x_account: uuid.UUID
) -> None:
    assert (await schedule(client, team, content, x_account)).status_code == 201
    edit = await client.patch(
        f"/v1/contents/{content['content_id']}", json={"text": "Herald " * 60}, headers=team.headers
    )
    where, message = problem(edit)
    assert where == ["body", "text"]
    assert "over the 280 limit" in message
    unchanged = await client.get(f"/v1/contents/{content['content_id']}", headers=team.headers)
    assert unchanged.json()["text"] == content["text"]
    assert unchanged.json()["status"] == "approved"


async def test_accounts_must_be_this_teams_connected_accounts_on_that_platform(
    client: httpx.AsyncClient,
    broker: Broker,
    scheduler: Instance,
    team: Team,
    content: dict[str, Any],
    x_account: uuid.UUID,
) -> None:
    other = await new_team(client)
    theirs = await broker.connect_account(scheduler.engine, other, Platform.X)
    for account, platform, words in [
        (theirs, "x", "no such connected account"),
        (uuid.uuid4(), "x", "no such connected account"),
        (x_account, "meta", "is a x account, not meta"),
    ]:
        where, message = problem(await schedule(client, team, content, account, platform=platform))
        assert where == ["body", "account_id"]
        assert words in message


async def test_other_teams_content_cannot_be_scheduled(
    client: httpx.AsyncClient, content: dict[str, Any], broker: Broker, scheduler: Instance
) -> None:
    other = await new_team(client)
    account = await broker.connect_account(scheduler.engine, other, Platform.X)
    where, message = problem(await schedule(client, other, content, account))
    assert (where, message) == (["body", "content_id"], "no such content")


async def test_bad_content_and_listing_input(client: httpx.AsyncClient, team: Team) -> None:
    where, _ = problem(await client.post("/v1/contents", json={"title": "", "text": "hi"}, headers=team.headers))
    assert where == ["body", "title"]
    where, _ = problem(
        await client.post("/v1/contents", json={"title": "t", "text": "hi", "link": "ftp://x"}, headers=team.headers)
    )
    assert where == ["body", "link"]
    where, message = problem(await client.get("/v1/distributions?cursor=bm9wZQ", headers=team.headers))
    assert (where, message) == (["query", "cursor"], "invalid cursor: pass next_cursor from the previous page")
    where, _ = problem(await client.get("/v1/distributions?scheduled_from=2030-01-01T00:00:00", headers=team.headers))
    assert where == ["query", "scheduled_from"]
    where, _ = problem(await client.get("/v1/distributions?status=lost", headers=team.headers))
    assert where == ["query", "status", 0]
