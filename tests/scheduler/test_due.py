"""The due loop on the shared scheduler: on time, woken by NOTIFY, holding unapproved content, cancelling."""

import datetime as dt
import uuid
from typing import Any

import httpx
from sqlalchemy import text

from herald.contracts.distribution import DistributionCancelled, DistributionRescheduled, DistributionScheduled
from herald.contracts.publishing import OverLengthPolicy, PublishRequested
from tests.scheduler.support import Instance, Team, Watch, now, watching


async def schedule(
    client: httpx.AsyncClient, team: Team, content_id: str, account: uuid.UUID, at: dt.datetime, **extra: Any
) -> uuid.UUID:
    response = await client.post(
        "/v1/distributions",
        json={"content_id": content_id, "platform": "x", "account_id": str(account), "publish_at": at.isoformat()}
        | extra,
        headers=team.headers,
    )
    assert response.status_code == 201, response.text
    return uuid.UUID(response.json()["distribution_id"])


async def due_loop_passed(
    client: httpx.AsyncClient, team: Team, watch: Watch, account: uuid.UUID, at: dt.datetime
) -> None:
    """A marker: a distribution of approved content due at ``at``. Once it is requested, the due loop has been
    past ``at``, so whatever it was going to request by then has been requested too."""
    created = await client.post("/v1/contents", json={"title": "Marker", "text": "Marker"}, headers=team.headers)
    content_id = created.json()["content_id"]
    await client.post(f"/v1/contents/{content_id}/approve", headers=team.headers)
    marker = await schedule(client, team, content_id, account, at)
    await watch.wait_for(PublishRequested, distribution_id=marker, seconds=10)


async def test_a_due_distribution_is_requested_on_time_with_everything_a_publisher_needs(
    amqp_url: str,
    scheduler: Instance,
    client: httpx.AsyncClient,
    team: Team,
    content: dict[str, Any],
    x_account: uuid.UUID,
) -> None:
    # The shared scheduler sleeps up to 30 s when nothing is due: being on time below proves the NOTIFY woke it.
    assert scheduler.settings.due_max_sleep_seconds >= 30
    before = scheduler.metric("herald_due_loop_lateness_seconds_count")
    due = now() + dt.timedelta(seconds=1)
    async with watching(amqp_url, "publish.requested.v2.*", "distribution.scheduled.v1.*") as watch:
        distribution_id = await schedule(
            client,
            team,
            content["content_id"],
            x_account,
            due,
            timezone="Europe/Berlin",
            retry={"max_attempts": 3, "base_delay_seconds": 60},
            over_length="thread",
        )
        [announced] = await watch.wait_for(DistributionScheduled, distribution_id=distribution_id)
        [request] = await watch.wait_for(PublishRequested, distribution_id=distribution_id, seconds=5)
        arrived = now()

    assert (announced.scheduled_at, announced.timezone) == (due, "Europe/Berlin")
    assert request.text == "Herald ships today."
    assert (request.title, request.link) == ("Launch", "https://herald.example/launch")
    assert (request.max_attempts, request.base_delay_seconds) == (3, 60)
    assert request.over_length is OverLengthPolicy.THREAD
    assert (request.account_id, request.team_id, request.scheduled_at) == (x_account, team.team_id, due)
    assert request.correlation_id == str(distribution_id)
    lateness = (request.occurred_at - due).total_seconds()
    assert 0 <= lateness < 0.5, lateness
    assert (arrived - due).total_seconds() < 1.5
    got = (await client.get(f"/v1/distributions/{distribution_id}", headers=team.headers)).json()
    assert got["status"] == "queued"
    assert scheduler.metric("herald_due_loop_lateness_seconds_count") > before
    metrics = (await client.get("/metrics")).text
    for name in (
        "herald_scheduler_backlog",
        "herald_outbox_depth",
        "herald_distributions_claimed_total",
        "herald_due_loop_lateness_seconds_bucket",
    ):
        assert name in metrics


async def test_distributions_of_unapproved_content_wait_for_approval(
    amqp_url: str, client: httpx.AsyncClient, team: Team, x_account: uuid.UUID
) -> None:
    draft = await client.post("/v1/contents", json={"title": "Draft", "text": "Not yet"}, headers=team.headers)
    content_id = draft.json()["content_id"]
    async with watching(amqp_url, "publish.requested.v2.*") as watch:
        due = now() + dt.timedelta(seconds=0.3)
        distribution_id = await schedule(client, team, content_id, x_account, due)
        await due_loop_passed(client, team, watch, x_account, due)
        assert watch.of(PublishRequested, distribution_id=distribution_id) == []
        got = await client.get(f"/v1/distributions/{distribution_id}", headers=team.headers)
        assert got.json()["status"] == "scheduled"

        await client.post(f"/v1/contents/{content_id}/approve", headers=team.headers)
        await watch.wait_for(PublishRequested, distribution_id=distribution_id, seconds=3)


async def test_cancelling_before_the_due_time_means_it_is_never_requested(
    amqp_url: str, client: httpx.AsyncClient, team: Team, content: dict[str, Any], x_account: uuid.UUID
) -> None:
    async with watching(amqp_url, "publish.requested.v2.*", "distribution.cancelled.v1.*") as watch:
        due = now() + dt.timedelta(seconds=1)
        distribution_id = await schedule(client, team, content["content_id"], x_account, due)
        for _ in range(2):  # idempotent
            cancelled = await client.post(
                f"/v1/distributions/{distribution_id}/cancel", json={"reason": "wrong day"}, headers=team.headers
            )
            assert cancelled.json()["status"] == "cancelled"
        [event] = await watch.wait_for(DistributionCancelled, distribution_id=distribution_id)
        assert (event.reason, event.actor) == ("wrong day", f"api_key:{team.key_id}")
        await due_loop_passed(client, team, watch, x_account, due)
        assert watch.of(PublishRequested, distribution_id=distribution_id) == []
        assert len(watch.of(DistributionCancelled, distribution_id=distribution_id)) == 1
    publish_now = await client.post(f"/v1/distributions/{distribution_id}/publish-now", headers=team.headers)
    assert publish_now.status_code == 409


async def test_withdrawing_approval_cancels_queued_distributions_and_holds_scheduled_ones(
    amqp_url: str, client: httpx.AsyncClient, team: Team, content: dict[str, Any], x_account: uuid.UUID
) -> None:
    content_id = content["content_id"]
    tomorrow = now() + dt.timedelta(days=1)
    queued = await schedule(client, team, content_id, x_account, tomorrow)
    waiting = await schedule(client, team, content_id, x_account, tomorrow)
    async with watching(amqp_url, "publish.requested.v2.*", "distribution.cancelled.v1.*") as watch:
        await client.post(f"/v1/distributions/{queued}/publish-now", headers=team.headers)
        await watch.wait_for(PublishRequested, distribution_id=queued)
        withdrawn = await client.post(f"/v1/contents/{content_id}/withdraw-approval", headers=team.headers)
        assert withdrawn.json()["status"] == "draft"
        [event] = await watch.wait_for(DistributionCancelled, content_id=uuid.UUID(content_id))
    assert (event.distribution_id, event.reason) == (queued, "content approval withdrawn")
    states = {
        d: (await client.get(f"/v1/distributions/{d}", headers=team.headers)).json()["status"]
        for d in (queued, waiting)
    }
    assert states == {queued: "cancelled", waiting: "scheduled"}
    # Not approved: it cannot be published now either.
    assert (await client.post(f"/v1/distributions/{waiting}/publish-now", headers=team.headers)).status_code == 409


async def test_reschedule_and_publish_now(
    amqp_url: str, client: httpx.AsyncClient, team: Team, content: dict[str, Any], x_account: uuid.UUID
) -> None:
    first = now() + dt.timedelta(days=1)
    distribution_id = await schedule(client, team, content["content_id"], x_account, first)
    async with watching(amqp_url, "publish.requested.v2.*", "distribution.rescheduled.v1.*") as watch:
        moved = await client.post(
            f"/v1/distributions/{distribution_id}/reschedule",
            json={"local_time": "2031-07-01T09:30:00", "timezone": "America/New_York"},
            headers=team.headers,
        )
        assert moved.status_code == 200, moved.text
        assert moved.json()["scheduled_at"] == "2031-07-01T13:30:00Z"
        assert moved.json()["scheduled_at_local"] == "2031-07-01T09:30:00-04:00"
        [event] = await watch.wait_for(DistributionRescheduled, distribution_id=distribution_id)
        assert event.previous_scheduled_at == first
        assert event.scheduled_at == dt.datetime(2031, 7, 1, 13, 30, tzinfo=dt.UTC)
        assert event.timezone == "America/New_York"

        started = now()
        published = await client.post(f"/v1/distributions/{distribution_id}/publish-now", headers=team.headers)
        assert published.status_code == 200
        [request] = await watch.wait_for(PublishRequested, distribution_id=distribution_id, seconds=3)
        assert (now() - started).total_seconds() < 1.5
        assert len(watch.of(DistributionRescheduled, distribution_id=distribution_id)) == 2
        assert request.scheduled_at >= started - dt.timedelta(seconds=1)

    again = await client.post(
        f"/v1/distributions/{distribution_id}/reschedule",
        json={"publish_at": "2031-01-01T00:00:00Z"},
        headers=team.headers,
    )
    assert again.status_code == 409
    assert again.json()["detail"] == "a queued distribution cannot be rescheduled"


async def test_content_being_changed_is_not_sent_until_the_change_commits(
    amqp_url: str,
    scheduler: Instance,
    client: httpx.AsyncClient,
    team: Team,
    content: dict[str, Any],
    x_account: uuid.UUID,
) -> None:
    content_id = uuid.UUID(content["content_id"])
    async with watching(amqp_url, "publish.requested.v2.*") as watch:
        due = now() + dt.timedelta(seconds=0.3)
        distribution_id = await schedule(client, team, content["content_id"], x_account, due)
        async with scheduler.engine.begin() as conn:  # an edit in progress holds the content row
            await conn.execute(text("SELECT 1 FROM contents WHERE content_id = :id FOR UPDATE"), {"id": content_id})
            await due_loop_passed(client, team, watch, x_account, due)
            assert watch.of(PublishRequested, distribution_id=distribution_id) == []
            await conn.execute(
                text("UPDATE contents SET text = 'Edited text' WHERE content_id = :id"), {"id": content_id}
            )
        [request] = await watch.wait_for(PublishRequested, distribution_id=distribution_id, seconds=3)
    assert request.text == "Edited text"  # what was committed when it was sent, never an older snapshot
