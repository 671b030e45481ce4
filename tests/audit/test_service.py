"""The audit service end to end on the real RabbitMQ and PostgreSQL: recording, parking, and the query API."""

import csv
import datetime as dt
import io
import json
import uuid
from typing import Any

import aio_pika
import asyncpg
import httpx
import pytest

from herald.contracts.distribution import DistributionScheduled
from herald.contracts.envelope import to_amqp
from herald.contracts.examples import example_for
from herald.contracts.operations import MessageParked
from herald.contracts.platform import Platform
from herald.contracts.publishing import PublishFailed, PublishRequested, PublishRetryScheduled, PublishSucceeded
from herald.contracts.registry import EVENT_CLASSES
from herald.contracts.routing import EVENTS_EXCHANGE
from herald.kit.broker import EventPublisher
from tests.audit.conftest import RunningAudit, TeamKey, for_team, record_marker, wait_for_rows
from tests.support.eventually import eventually


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def _get(audit: RunningAudit, path: str, key: str, **params: Any) -> httpx.Response:
    async with httpx.AsyncClient(base_url=audit.url, timeout=10) as client:
        return await client.get(path, params=params, headers=_auth(key))


async def _journey(publisher: EventPublisher, team: uuid.UUID, platform: Platform = Platform.X) -> uuid.UUID:
    """Publish one distribution's life: scheduled, requested, a retry, then published on attempt 2."""
    distribution = uuid.uuid4()
    start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)
    same = {"distribution_id": distribution, "platform": platform}
    steps = [
        for_team(example_for(DistributionScheduled), team, occurred_at=start, **same),
        for_team(example_for(PublishRequested), team, occurred_at=start + dt.timedelta(minutes=1), **same),
        for_team(example_for(PublishRetryScheduled), team, occurred_at=start + dt.timedelta(minutes=2), **same),
        for_team(example_for(PublishSucceeded), team, occurred_at=start + dt.timedelta(minutes=3), **same),
    ]
    for event in reversed(steps):  # arrival order must not matter: the timeline is ordered by occurred_at
        await publisher.publish(event)
    return distribution


async def test_every_event_type_is_recorded_once_even_when_redelivered(
    audit: RunningAudit, publisher: EventPublisher, pg: asyncpg.Connection
) -> None:
    team = uuid.uuid4()
    envelopes = [publisher.envelope(for_team(example_for(cls), team)) for cls in EVENT_CLASSES]
    await publisher.publish_many(envelopes)
    await publisher.publish_many(envelopes[:5])  # re-published with the same event ids (an outbox replay)

    assert await wait_for_rows(pg, team, len(EVENT_CLASSES)) == len(EVENT_CLASSES)
    marker = await record_marker(publisher, pg, team)  # a duplicate would have landed ahead of it
    rows = await pg.fetch("SELECT * FROM audit.events WHERE team_id = $1 AND event_id <> $2", team, marker)
    assert len(rows) == len(EVENT_CLASSES)
    assert {r["event_id"] for r in rows} == {e.message_id for e in envelopes}
    assert {r["event_type"] for r in rows} == {cls.ce_type() for cls in EVENT_CLASSES}
    assert all(r["recorded_at"] >= r["occurred_at"] for r in rows)
    published = next(r for r in rows if r["action"] == "content_published")
    metadata = json.loads(published["metadata"])
    assert {"DistributionId", "Platform", "ExternalPostId", "Title", "PublishedAt"} <= set(metadata)
    assert published["entity"] == "ContentDistribution"

    async with httpx.AsyncClient(base_url=audit.url) as client:
        metrics = (await client.get("/metrics")).text
        ready = (await client.get("/readyz")).json()
    assert 'herald_audit_events_written_total{action="content_published"}' in metrics
    assert "herald_audit_lag_seconds_count" in metrics
    assert ready["checks"] == {"database": True, "broker": True, "audit_writer": True}


async def test_a_malformed_message_is_parked_and_its_report_recorded_once(
    audit: RunningAudit, amqp_url: str, pg: asyncpg.Connection
) -> None:
    bad_id = f"bad-{uuid.uuid4().hex[:8]}"
    connection = await aio_pika.connect_robust(amqp_url)
    try:
        channel = await connection.channel()
        exchange = await channel.get_exchange(EVENTS_EXCHANGE)
        await exchange.publish(aio_pika.Message(b"{not json", message_id=bad_id), routing_key="content.approved.v1")

        query = "SELECT action, team_id, metadata FROM audit.events WHERE entity_id = $1"
        await eventually(lambda: pg.fetch(query, bad_id), within=10, what="the report recorded")
        # A second malformed message, recorded behind the first: a parking loop would have added rows by then.
        marker_id = f"bad-{uuid.uuid4().hex[:8]}"
        await exchange.publish(aio_pika.Message(b"{marker", message_id=marker_id), routing_key="content.approved.v1")
        await eventually(lambda: pg.fetch(query, marker_id), within=10, what="the marker's report recorded")
        rows = await pg.fetch(query, bad_id)
        assert len(rows) == 1
        assert rows[0]["action"] == "message_parked"
        assert rows[0]["team_id"] is None
        assert json.loads(rows[0]["metadata"])["Queue"] == audit.settings.queue_name

        parking = await channel.declare_queue(f"{audit.settings.queue_name}.dead", passive=True)
        parked = await parking.get(fail=False, no_ack=True)
        assert parked is not None
        assert parked.message_id == bad_id
        assert parked.body == b"{not json"
    finally:
        await connection.close()


async def test_queries_need_a_team_key(audit: RunningAudit) -> None:
    async with httpx.AsyncClient(base_url=audit.url) as client:
        assert (await client.get("/v1/audit/events")).status_code == 401
        assert (await client.get("/v1/audit/events", headers=_auth("hk_nope"))).status_code == 401


async def test_a_team_sees_its_own_rows_only(
    audit: RunningAudit, publisher: EventPublisher, pg: asyncpg.Connection, new_team: TeamKey
) -> None:
    team_a, key_a = await new_team()
    team_b, _ = await new_team()
    mine = for_team(example_for(PublishSucceeded), team_a)
    theirs = for_team(example_for(PublishSucceeded), team_b, distribution_id=uuid.uuid4())
    orphan = for_team(example_for(MessageParked), None, original_message_id=f"orphan-{team_a}")
    for event in (mine, theirs, orphan):
        await publisher.publish(event)
    await wait_for_rows(pg, team_a, 1)
    await wait_for_rows(pg, team_b, 1)

    page = (await _get(audit, "/v1/audit/events", key_a)).json()
    assert [item["team_id"] for item in page["items"]] == [str(team_a)]
    assert page["next_cursor"] is None
    nobody = await _get(audit, "/v1/audit/events", key_a, entity_id=f"orphan-{team_a}")
    assert nobody.json()["items"] == []
    other = await _get(audit, "/v1/audit/events", key_a, entity_id=str(theirs.distribution_id))
    assert other.json()["items"] == []


async def test_filters_and_keyset_pagination(
    audit: RunningAudit, publisher: EventPublisher, pg: asyncpg.Connection, new_team: TeamKey
) -> None:
    team, key = await new_team()
    first = await _journey(publisher, team, Platform.X)
    await _journey(publisher, team, Platform.LINKEDIN)
    await wait_for_rows(pg, team, 8)

    by_entity = (await _get(audit, "/v1/audit/events", key, entity_id=str(first))).json()["items"]
    assert len(by_entity) == 4
    assert {item["platform"] for item in by_entity} == {"x"}
    by_action = (await _get(audit, "/v1/audit/events", key, action="content_published")).json()["items"]
    assert len(by_action) == 2
    assert all(item["metadata"]["ExternalPostId"] for item in by_action)
    by_platform = (await _get(audit, "/v1/audit/events", key, platform="linkedin")).json()["items"]
    assert len(by_platform) == 4
    assert {item["platform"] for item in by_platform} == {"linkedin"}
    started = dt.datetime.fromisoformat(by_entity[-1]["occurred_at"])  # newest first: the last is the oldest
    window = await _get(
        audit, "/v1/audit/events", key, since=started.isoformat(), until=(started + dt.timedelta(minutes=2)).isoformat()
    )
    assert [item["action"] for item in window.json()["items"]].count("distribution_scheduled") == 2
    assert "content_published" not in [item["action"] for item in window.json()["items"]]

    for order in ("desc", "asc"):
        seen: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 3, "order": order, **({"cursor": cursor} if cursor else {})}
            page = (await _get(audit, "/v1/audit/events", key, **params)).json()
            seen += page["items"]
            if (cursor := page["next_cursor"]) is None:
                break
        assert len(seen) == 8
        assert len({item["event_id"] for item in seen}) == 8
        keys = [(item["occurred_at"], item["event_id"]) for item in seen]
        assert keys == sorted(keys, reverse=order == "desc")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"action": "content_deleted"}, "action"),
        ({"platform": "myspace"}, "platform"),
        ({"since": "2025-01-01T00:00:00"}, "since"),  # no offset: which zone?
        ({"since": "yesterday"}, "since"),
        ({"since": "2025-02-01T00:00:00Z", "until": "2025-01-01T00:00:00Z"}, "until"),
        ({"limit": 0}, "limit"),
        ({"limit": 100000}, "limit"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"order": "sideways"}, "order"),
    ],
)
async def test_bad_filters_are_rejected_naming_the_field(
    audit: RunningAudit, new_team: TeamKey, params: dict[str, Any], field: str
) -> None:
    _, key = await new_team()
    response = await _get(audit, "/v1/audit/events", key, **params)
    assert response.status_code == 422
    assert [error["loc"] for error in response.json()["detail"]] == [["query", field]]


async def test_a_cursor_cannot_be_reused_for_the_other_order(
    audit: RunningAudit, publisher: EventPublisher, pg: asyncpg.Connection, new_team: TeamKey
) -> None:
    team, key = await new_team()
    await _journey(publisher, team)
    await wait_for_rows(pg, team, 4)
    cursor = (await _get(audit, "/v1/audit/events", key, limit=1)).json()["next_cursor"]
    response = await _get(audit, "/v1/audit/events", key, cursor=cursor, order="asc")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "cursor"]


async def test_timeline_shows_every_step_in_order_and_only_to_its_team(
    audit: RunningAudit, publisher: EventPublisher, pg: asyncpg.Connection, new_team: TeamKey
) -> None:
    team, key = await new_team()
    _, other_key = await new_team()
    distribution = await _journey(publisher, team)
    failed = for_team(
        example_for(PublishFailed),
        team,
        distribution_id=distribution,
        platform=Platform.X,
        attempt=3,
        occurred_at=dt.datetime.now(dt.UTC),
    )
    await publisher.publish(failed)
    await wait_for_rows(pg, team, 5)

    response = await _get(audit, f"/v1/audit/distributions/{distribution}/timeline", key)
    assert response.status_code == 200
    items = response.json()["items"]
    assert [item["action"] for item in items] == [
        "distribution_scheduled",
        "publish_requested",
        "publish_retry_scheduled",
        "content_published",
        "content_publish_failed",
    ]
    assert [item["metadata"].get("Attempt") for item in items] == [None, None, 1, 2, 3]
    assert items[2]["metadata"]["HttpStatus"] == 429
    assert items[4]["metadata"]["ErrorClass"] == "duplicate"

    assert (await _get(audit, f"/v1/audit/distributions/{distribution}/timeline", other_key)).status_code == 404
    assert (await _get(audit, f"/v1/audit/distributions/{uuid.uuid4()}/timeline", key)).status_code == 404
    assert (await _get(audit, "/v1/audit/distributions/not-a-uuid/timeline", key)).status_code == 422


async def test_export_streams_ndjson_and_csv_with_the_same_filters(
    audit: RunningAudit, publisher: EventPublisher, pg: asyncpg.Connection, new_team: TeamKey
) -> None:
    team, key = await new_team()
    await _journey(publisher, team, Platform.META)
    await publisher.publish(for_team(example_for(DistributionScheduled), team, platform=Platform.X))
    risky = for_team(example_for(PublishSucceeded), team, platform=Platform.META, title='=HYPERLINK("http://evil")')
    await publisher.publish(risky)
    await wait_for_rows(pg, team, 6)

    ndjson = await _get(audit, "/v1/audit/export", key, format="ndjson", platform="meta")
    assert ndjson.status_code == 200
    assert ndjson.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in ndjson.text.splitlines()]
    assert len(lines) == 5
    assert {line["platform"] for line in lines} == {"meta"}
    assert [line["occurred_at"] for line in lines] == sorted(line["occurred_at"] for line in lines)

    exported = await _get(audit, "/v1/audit/export", key, format="csv")
    assert exported.headers["content-type"].startswith("text/csv")
    assert "attachment" in exported.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert len(rows) == 6
    assert {row["team_id"] for row in rows} == {str(team)}
    titles = [json.loads(row["metadata"]).get("Title") for row in rows if row["action"] == "content_published"]
    assert '=HYPERLINK("http://evil")' in titles  # the JSON cell starts with "{", so it is kept as is
    assert (await _get(audit, "/v1/audit/export", key, format="xml")).status_code == 422


async def test_export_pages_through_more_rows_than_one_query_reads(
    audit: RunningAudit, publisher: EventPublisher, pg: asyncpg.Connection, new_team: TeamKey
) -> None:
    team, key = await new_team()
    base = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    events = [
        for_team(example_for(PublishRequested), team, occurred_at=base + dt.timedelta(seconds=i // 2))
        for i in range(2 * audit.settings.export_page_size + 7)
    ]
    await publisher.publish_many(publisher.envelope(e) for e in events)
    await wait_for_rows(pg, team, len(events), timeout=30)
    exported = await _get(audit, "/v1/audit/export", key)
    ids = [json.loads(line)["event_id"] for line in exported.text.splitlines()]
    assert len(ids) == len(events)
    assert len(set(ids)) == len(events)


def test_to_amqp_event_ids_are_what_the_audit_dedupes_on() -> None:
    event = example_for(PublishSucceeded)
    assert to_amqp(event, source="/t", event_id="fixed").message_id == "fixed"


async def _parked_messages(amqp_url: str, queue: str) -> dict[str, aio_pika.abc.AbstractIncomingMessage]:
    connection = await aio_pika.connect_robust(amqp_url)
    found: dict[str, aio_pika.abc.AbstractIncomingMessage] = {}
    try:
        channel = await connection.channel()
        parking = await channel.declare_queue(f"{queue}.dead", passive=True)
        while (message := await parking.get(fail=False, no_ack=True)) is not None:
            found[message.message_id or ""] = message
    finally:
        await connection.close()
    return found


async def test_a_row_postgresql_refuses_is_parked_and_its_batch_mates_recorded(
    audit: RunningAudit, publisher: EventPublisher, pg: asyncpg.Connection, amqp_url: str
) -> None:
    team, poisoned = uuid.uuid4(), uuid.uuid4()
    # A constraint the service does not know about stands in for data PostgreSQL refuses.
    await pg.execute(f"ALTER TABLE audit.events ADD CONSTRAINT test_refuse CHECK (entity_id <> '{poisoned}')")
    try:
        bad = publisher.envelope(for_team(example_for(PublishSucceeded), team, distribution_id=poisoned))
        good = [publisher.envelope(for_team(example_for(PublishRequested), team)) for _ in range(5)]
        parked_report = publisher.envelope(
            for_team(example_for(MessageParked), team, original_message_id=str(poisoned))
        )
        await publisher.publish_many([bad, *good, parked_report])

        await wait_for_rows(pg, team, 6)
        marker = await record_marker(publisher, pg, team)
        rows = await pg.fetch(
            "SELECT event_id, action, entity_id, metadata FROM audit.events WHERE team_id = $1 AND event_id <> $2",
            team,
            marker,
        )
        assert sorted(r["action"] for r in rows) == ["message_parked"] + ["publish_requested"] * 5
        report = next(r for r in rows if r["action"] == "message_parked")
        assert report["entity_id"] == bad.message_id  # the service's own report about the refused event
        assert json.loads(report["metadata"])["Category"] == "poison"
        assert "test_refuse" in json.loads(report["metadata"])["Reason"]

        parked = await _parked_messages(amqp_url, audit.settings.queue_name)
        assert "refused by PostgreSQL" in str(parked[bad.message_id].headers["herald-parked-reason"])
        # A refused park report is dead-lettered as it is, never parked again (which would report it again).
        assert parked[parked_report.message_id].headers["x-first-death-reason"] == "rejected"
    finally:
        await pg.execute("ALTER TABLE audit.events DROP CONSTRAINT test_refuse")
