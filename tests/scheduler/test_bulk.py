"""Bulk scheduling (``POST /v1/distributions/bulk``): all or none, each item checked like a single create, on the
real PostgreSQL and RabbitMQ."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

import httpx
from sqlalchemy import text

from herald.contracts.distribution import DistributionScheduled
from herald.contracts.platform import Platform
from herald.scheduler.schemas import BULK_MAX_ITEMS
from tests.scheduler.support import Broker, Instance, Team, iso, new_team, now, watching

BULK = "/v1/distributions/bulk"


def item(content_id: str, account: uuid.UUID, platform: Platform = Platform.X, **fields: Any) -> dict[str, Any]:
    """A bulk item: exactly the body of a single create (due in a day unless ``fields`` give a time)."""
    body = {"content_id": content_id, "platform": platform.value, "account_id": str(account), **fields}
    if "publish_at" not in fields and "local_time" not in fields:
        body["publish_at"] = iso(now() + dt.timedelta(days=1))
    return body


async def new_content(client: httpx.AsyncClient, team: Team, words: str = "Herald schedules campaigns.") -> str:
    created = await client.post("/v1/contents", json={"title": "Campaign", "text": words}, headers=team.headers)
    assert created.status_code == 201, created.text
    return str(created.json()["content_id"])


async def accounts(scheduler: Instance, broker: Broker, team: Team, *platforms: Platform) -> list[uuid.UUID]:
    return list(await asyncio.gather(*(broker.connect_account(scheduler.engine, team, p) for p in platforms)))


async def stored(scheduler: Instance, content_id: str) -> int:
    async with scheduler.engine.connect() as conn:
        query = text("SELECT count(*) FROM distributions WHERE content_id = :c")
        return int((await conn.execute(query, {"c": uuid.UUID(content_id)})).scalar_one())


async def test_one_content_item_to_many_accounts_at_one_time(
    client: httpx.AsyncClient, scheduler: Instance, broker: Broker, team: Team, amqp_url: str
) -> None:
    content_id = await new_content(client, team)
    targets = await accounts(scheduler, broker, team, Platform.X, Platform.X, Platform.LINKEDIN, Platform.META)
    platforms = [Platform.X, Platform.X, Platform.LINKEDIN, Platform.META]
    at = iso(now() + dt.timedelta(hours=2))
    items = [item(content_id, a, p, publish_at=at) for a, p in zip(targets, platforms, strict=True)]

    async with watching(amqp_url, "distribution.scheduled.v1.*") as watch:
        response = await client.post(BULK, json={"items": items}, headers=team.headers)
        assert response.status_code == 201, response.text
        created = response.json()["items"]
        events = await watch.wait_for(
            DistributionScheduled, len(items), team_id=team.team_id, content_id=uuid.UUID(content_id)
        )

    assert [(d["account_id"], d["platform"]) for d in created] == [
        (str(a), p.value) for a, p in zip(targets, platforms, strict=True)
    ]
    assert {d["status"] for d in created} == {"scheduled"}
    assert {dt.datetime.fromisoformat(d["scheduled_at"]) for d in created} == {dt.datetime.fromisoformat(at)}
    assert sorted(str(e.distribution_id) for e in events) == sorted(d["distribution_id"] for d in created)
    assert await stored(scheduler, content_id) == len(items)
    for d in created:  # each is an ordinary distribution afterwards
        read = await client.get(f"/v1/distributions/{d['distribution_id']}", headers=team.headers)
        assert read.status_code == 200
        assert read.json()["account_id"] == d["account_id"]


async def test_each_item_in_its_own_accounts_timezone(
    client: httpx.AsyncClient, scheduler: Instance, broker: Broker, team: Team
) -> None:
    content_id = await new_content(client, team)
    targets = await accounts(scheduler, broker, team, Platform.X, Platform.X, Platform.X, Platform.X)
    zones = ["Europe/Berlin", "America/New_York", "Asia/Tokyo", "Europe/Berlin"]
    local = ["2030-07-15T09:00:00", "2030-07-15T09:00:00", "2030-07-15T09:00:00", "2030-10-27T02:30:00"]
    items = [
        item(content_id, a, local_time=t, timezone=z, dst_resolution="later")
        for a, t, z in zip(targets, local, zones, strict=True)
    ]

    response = await client.post(BULK, json={"items": items}, headers=team.headers)

    assert response.status_code == 201, response.text
    created = response.json()["items"]
    assert [dt.datetime.fromisoformat(d["scheduled_at"]) for d in created] == [
        dt.datetime(2030, 7, 15, 7, 0, tzinfo=dt.UTC),
        dt.datetime(2030, 7, 15, 13, 0, tzinfo=dt.UTC),
        dt.datetime(2030, 7, 15, 0, 0, tzinfo=dt.UTC),
        dt.datetime(2030, 10, 27, 1, 30, tzinfo=dt.UTC),  # 02:30 happens twice that night: the later one (CET)
    ]
    assert [d["timezone"] for d in created] == zones
    assert [d["scheduled_at_local"] for d in created] == [
        "2030-07-15T09:00:00+02:00",
        "2030-07-15T09:00:00-04:00",
        "2030-07-15T09:00:00+09:00",
        "2030-10-27T02:30:00+01:00",
    ]


async def test_one_bad_item_fails_the_request_naming_every_bad_item_and_nothing_is_written(
    client: httpx.AsyncClient, scheduler: Instance, broker: Broker, team: Team, amqp_url: str
) -> None:
    content_id = await new_content(client, team)
    archived_id = await new_content(client, team, "This one was archived.")
    assert (await client.post(f"/v1/contents/{archived_id}/archive", headers=team.headers)).status_code == 200
    x, linkedin = await accounts(scheduler, broker, team, Platform.X, Platform.LINKEDIN)
    items = [
        item(content_id, x),  # fine
        item(content_id, x, local_time="2030-03-31T02:30:00", timezone="Europe/Berlin"),  # skipped by DST
        item(content_id, uuid.uuid4()),  # unknown account
        item(content_id, linkedin, Platform.X),  # a LinkedIn account scheduled as X
        item(archived_id, x),
        item(content_id, x, publish_at=iso(now() - dt.timedelta(days=3))),  # beyond the misfire window
        item(content_id, linkedin, Platform.LINKEDIN, over_length="truncate"),  # X only
        item(content_id, x, timezone="Mars/Olympus", local_time="2030-01-01T09:00:00"),
        item(content_id, linkedin, Platform.LINKEDIN),  # fine
    ]

    async with watching(amqp_url, "distribution.scheduled.v1.*") as watch:
        response = await client.post(BULK, json={"items": items}, headers=team.headers)
        # A marker scheduled behind the refused batch: once its event arrives, an event of a half-written batch
        # (written to the same outbox before it, and the relay publishes the oldest rows first) would be ahead of it.
        marker_content = await new_content(client, team, "The marker.")
        marker = await client.post(BULK, json={"items": [item(marker_content, x)]}, headers=team.headers)
        assert marker.status_code == 201, marker.text
        marker_id = uuid.UUID(marker.json()["items"][0]["distribution_id"])
        await watch.wait_for(DistributionScheduled, distribution_id=marker_id)

    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert [(d["loc"], d["type"]) for d in detail] == [
        (["body", "items", 1, "local_time"], "value_error"),
        (["body", "items", 2, "account_id"], "value_error"),
        (["body", "items", 3, "account_id"], "value_error"),
        (["body", "items", 4, "content_id"], "value_error"),
        (["body", "items", 5, "publish_at"], "value_error"),
        (["body", "items", 6, "over_length"], "value_error"),
        (["body", "items", 7, "timezone"], "value_error"),
    ]
    messages = [d["msg"] for d in detail]
    assert "does not exist in Europe/Berlin" in messages[0]
    assert messages[1] == "no such connected account for this team (connect it first)"
    assert messages[2] == "the account is a linkedin account, not x"
    assert messages[3] == "content is archived"
    assert "in the past" in messages[4]
    assert "only X can truncate" in messages[5]
    assert "unknown IANA time zone 'Mars/Olympus'" in messages[6]
    assert await stored(scheduler, content_id) == 0
    assert await stored(scheduler, archived_id) == 0
    assert [e.distribution_id for e in watch.of(DistributionScheduled, team_id=team.team_id)] == [marker_id]


async def test_another_teams_content_or_account_is_unknown_to_a_bulk_request(
    client: httpx.AsyncClient, scheduler: Instance, broker: Broker, team: Team
) -> None:
    other = await new_team(client)
    theirs = await new_content(client, other, "Their words.")
    (their_account,) = await accounts(scheduler, broker, other, Platform.X)
    mine = await new_content(client, team)
    (my_account,) = await accounts(scheduler, broker, team, Platform.X)

    response = await client.post(
        BULK,
        json={"items": [item(mine, my_account), item(theirs, my_account), item(mine, their_account)]},
        headers=team.headers,
    )

    assert response.status_code == 422, response.text
    assert [(d["loc"], d["msg"]) for d in response.json()["detail"]] == [
        (["body", "items", 1, "content_id"], "no such content"),
        (["body", "items", 2, "account_id"], "no such connected account for this team (connect it first)"),
    ]
    assert await stored(scheduler, mine) == 0
    assert await stored(scheduler, theirs) == 0


async def test_the_content_rules_of_each_platform_apply_to_each_item(
    client: httpx.AsyncClient, scheduler: Instance, broker: Broker, team: Team
) -> None:
    long_text = await new_content(client, team, "word " * 100)  # 500 characters: over X's 280, fine elsewhere
    x, linkedin = await accounts(scheduler, broker, team, Platform.X, Platform.LINKEDIN)

    refused = await client.post(
        BULK,
        json={"items": [item(long_text, linkedin, Platform.LINKEDIN), item(long_text, x), item(long_text, x)]},
        headers=team.headers,
    )
    threaded = await client.post(
        BULK,
        json={"items": [item(long_text, linkedin, Platform.LINKEDIN), item(long_text, x, over_length="thread")]},
        headers=team.headers,
    )

    assert refused.status_code == 422, refused.text
    assert [(d["loc"], d["msg"].startswith("x: ")) for d in refused.json()["detail"]] == [
        (["body", "items", 1, "text"], True),
        (["body", "items", 2, "text"], True),
    ]
    assert threaded.status_code == 201, threaded.text
    assert await stored(scheduler, long_text) == 2


async def test_malformed_items_and_the_size_limit_are_422s_naming_what_is_wrong(
    client: httpx.AsyncClient, scheduler: Instance, broker: Broker, team: Team
) -> None:
    content_id = await new_content(client, team)
    (x,) = await accounts(scheduler, broker, team, Platform.X)
    missing_account = item(content_id, x)
    del missing_account["account_id"]

    malformed = await client.post(
        BULK,
        json={"items": [item(content_id, x), missing_account, {**item(content_id, x), "colour": "blue"}]},
        headers=team.headers,
    )
    empty = await client.post(BULK, json={"items": []}, headers=team.headers)
    too_many = await client.post(
        BULK, json={"items": [item(content_id, x)] * (BULK_MAX_ITEMS + 1)}, headers=team.headers
    )
    unauthenticated = await client.post(BULK, json={"items": [item(content_id, x)]})

    assert malformed.status_code == 422
    assert [(d["loc"], d["type"]) for d in malformed.json()["detail"]] == [
        (["body", "items", 1, "account_id"], "missing"),
        (["body", "items", 2, "colour"], "extra_forbidden"),
    ]
    assert empty.status_code == 422
    assert [(d["loc"], d["type"]) for d in empty.json()["detail"]] == [(["body", "items"], "too_short")]
    assert too_many.status_code == 422
    assert [(d["loc"], d["type"]) for d in too_many.json()["detail"]] == [(["body", "items"], "too_long")]
    assert str(BULK_MAX_ITEMS) in too_many.json()["detail"][0]["msg"]
    assert unauthenticated.status_code == 401
    assert await stored(scheduler, content_id) == 0


async def test_the_largest_request_is_written_whole(
    client: httpx.AsyncClient, scheduler: Instance, broker: Broker, team: Team
) -> None:
    content_id = await new_content(client, team)
    targets = await accounts(scheduler, broker, team, Platform.X, Platform.LINKEDIN, Platform.META)
    platforms = (Platform.X, Platform.LINKEDIN, Platform.META)
    start = now() + dt.timedelta(days=1)
    items = [
        item(content_id, targets[i % 3], platforms[i % 3], publish_at=iso(start + dt.timedelta(seconds=i)))
        for i in range(BULK_MAX_ITEMS)
    ]

    response = await client.post(BULK, json={"items": items}, headers=team.headers)

    assert response.status_code == 201, response.text[:500]
    created = response.json()["items"]
    assert [d["account_id"] for d in created] == [i["account_id"] for i in items]
    assert len({d["distribution_id"] for d in created}) == BULK_MAX_ITEMS
    assert await stored(scheduler, content_id) == BULK_MAX_ITEMS
    async with scheduler.engine.connect() as conn:
        events = (
            await conn.execute(
                text("SELECT count(*) FROM outbox WHERE message_type = :type AND convert_from(body, 'UTF8') LIKE :c"),
                {"type": DistributionScheduled.ce_type(), "c": f"%{content_id}%"},
            )
        ).scalar_one()
    assert events == BULK_MAX_ITEMS


async def test_the_openapi_document_describes_bulk_scheduling(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    bulk = document["paths"][BULK]["post"]
    schemas = document["components"]["schemas"]

    assert bulk["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/BulkScheduleIn")
    assert bulk["responses"]["201"]["content"]["application/json"]["schema"]["$ref"].endswith("/BulkScheduleOut")
    assert bulk["responses"]["422"]["content"]["application/json"]["schema"]["$ref"].endswith("/ProblemsOut")
    items = schemas["BulkScheduleIn"]["properties"]["items"]
    assert (items["minItems"], items["maxItems"]) == (1, BULK_MAX_ITEMS)
    assert items["items"]["$ref"].endswith("/ScheduleIn")
    assert schemas["BulkScheduleOut"]["properties"]["items"]["items"]["$ref"].endswith("/DistributionOut")
    assert set(schemas["ProblemOut"]["required"]) == {"loc", "msg", "type"}
    single = document["paths"]["/v1/distributions"]["post"]["responses"]["201"]
    assert single["content"]["application/json"]["schema"]["$ref"].endswith("/DistributionOut")


async def test_a_bulk_request_racing_an_archive_is_written_whole_or_not_at_all(
    client: httpx.AsyncClient, scheduler: Instance, broker: Broker, team: Team
) -> None:
    """Archiving waits for a bulk request holding the content (then cancels everything it scheduled), or the bulk
    request finds the content archived: never some distributions, never a scheduled one of archived content."""
    targets = await accounts(scheduler, broker, team, Platform.X, Platform.LINKEDIN, Platform.META)
    platforms = (Platform.X, Platform.LINKEDIN, Platform.META)
    outcomes = set()
    for attempt in range(6):
        content_id = await new_content(client, team, f"Race {attempt}")
        items = [item(content_id, targets[i % 3], platforms[i % 3]) for i in range(300)]
        bulk_request = client.post(BULK, json={"items": items}, headers=team.headers)
        archive_request = client.post(f"/v1/contents/{content_id}/archive", headers=team.headers)
        if attempt % 2:  # let either start first
            archived, bulk = await asyncio.gather(archive_request, bulk_request)
        else:
            bulk, archived = await asyncio.gather(bulk_request, archive_request)

        assert archived.status_code == 200, archived.text
        async with scheduler.engine.connect() as conn:
            rows = await conn.execute(
                text("SELECT status, count(*) FROM distributions WHERE content_id = :c GROUP BY status"),
                {"c": uuid.UUID(content_id)},
            )
            statuses = {str(status): int(count) for status, count in rows}
        if bulk.status_code == 201:
            assert statuses == {"cancelled": len(items)}
        else:
            assert bulk.status_code == 422, bulk.text
            assert {d["msg"] for d in bulk.json()["detail"]} == {"content is archived"}
            assert statuses == {}
        outcomes.add(bulk.status_code)
    print(f"\nbulk request outcomes racing an archive: {sorted(outcomes)}")


async def test_a_wrong_method_on_bulk_names_only_its_own_method(client: httpx.AsyncClient) -> None:
    # /v1/distributions/bulk also matches the template /v1/distributions/{distribution_id} (GET): the literal wins.
    answer = await client.request("OPTIONS", BULK)
    assert answer.status_code == 405
    assert answer.headers["allow"] == "POST"
