"""Misfire policies after a simulated outage: the scheduler is down while distributions fall due."""

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import text

from herald.contracts.distribution import DistributionMissed
from herald.contracts.platform import Platform
from herald.contracts.publishing import PublishRequested
from herald.kit import db
from herald.scheduler import repository as repo
from herald.scheduler.settings import SchedulerSettings
from tests.scheduler.support import (
    Broker,
    Team,
    delete_work_queues,
    new_team,
    now,
    running,
    settings_for,
    watching,
)


@pytest.fixture
async def settings(database_url: str, amqp_url: str, sink: None) -> AsyncIterator[SchedulerSettings]:
    suffix = uuid.uuid4().hex[:6]
    settings = settings_for(
        database_url,
        amqp_url,
        db_schema=f"scheduler_misfire_{suffix}",
        work_queue=f"scheduler-misfire-{suffix}",
        due_max_sleep_seconds=1,
    )
    yield settings
    await delete_work_queues(amqp_url, settings.work_queue)


@pytest.fixture
async def shift(settings: SchedulerSettings) -> AsyncIterator[Any]:
    """Move distributions' due times into the past: what the clock did while the scheduler was down."""
    engine = db.create_engine(settings, settings.db_schema, pool_size=1)

    async def run(distribution_id: str, ago: dt.timedelta) -> repo.DueOutlook:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "UPDATE distributions SET scheduled_at = now() - CAST(:ago AS interval) WHERE distribution_id = :id"
                ),
                {"ago": ago, "id": uuid.UUID(distribution_id)},
            )
            return await repo.due_outlook(conn)

    yield run
    await engine.dispose()


async def test_overdue_distributions_follow_their_misfire_policy_after_an_outage(
    amqp_url: str, settings: SchedulerSettings, broker: Broker, shift: Any
) -> None:
    plan = {
        # name: (misfire settings, how long the scheduler was down past its due time)
        "late_within_default_window": ({}, dt.timedelta(hours=2)),
        "late_beyond_its_window": ({"window_seconds": 3600}, dt.timedelta(hours=2)),
        "late_beyond_default_window": ({}, dt.timedelta(days=3)),
        "skip_beyond_threshold": ({"policy": "skip"}, dt.timedelta(minutes=2)),
        "skip_within_threshold": ({"policy": "skip"}, dt.timedelta(seconds=20)),
    }
    ids: dict[str, str] = {}
    async with running(settings) as first:
        team: Team = await new_team(first.client)
        account = await broker.connect_account(first.engine, team, Platform.X)
        created = await first.client.post("/v1/contents", json={"title": "T", "text": "Hello"}, headers=team.headers)
        content_id = created.json()["content_id"]
        await first.client.post(f"/v1/contents/{content_id}/approve", headers=team.headers)
        for name, (misfire, _) in plan.items():
            response = await first.client.post(
                "/v1/distributions",
                json={
                    "content_id": content_id,
                    "platform": "x",
                    "account_id": str(account),
                    "publish_at": (now() + dt.timedelta(hours=1)).isoformat(),
                    "misfire": misfire,
                },
                headers=team.headers,
            )
            assert response.status_code == 201, response.text
            ids[name] = response.json()["distribution_id"]
    # The scheduler is down. Time passes.
    for name, (_, down_for) in plan.items():
        outlook = await shift(ids[name], down_for)
    # What herald_scheduler_backlog reports when the scheduler comes back: all five are due, none requested.
    assert outlook.backlog == 5
    assert outlook.seconds_to_next is not None
    assert outlook.seconds_to_next < -3 * 86400 + 60

    async with (
        watching(amqp_url, "publish.requested.v2.*", "distribution.missed.v1.*") as watch,
        running(settings) as second,
    ):
        requested = await watch.wait_for(PublishRequested, 2, team_id=team.team_id)
        missed = await watch.wait_for(DistributionMissed, 3, team_id=team.team_id)
        states = {
            name: (await second.client.get(f"/v1/distributions/{d}", headers=team.headers)).json()["status"]
            for name, d in ids.items()
        }
        assert second.metric("herald_distributions_claimed_total", decision="missed") == 3
        assert second.metric("herald_distributions_claimed_total", decision="requested") == 2

        # A missed distribution is not published late, but a human may reschedule it.
        again = await second.client.post(
            f"/v1/distributions/{ids['late_beyond_its_window']}/publish-now", headers=team.headers
        )
        assert again.status_code == 200
        await watch.wait_for(PublishRequested, 3, team_id=team.team_id)

    assert states == {
        "late_within_default_window": "queued",
        "late_beyond_its_window": "missed",
        "late_beyond_default_window": "missed",
        "skip_beyond_threshold": "missed",
        "skip_within_threshold": "queued",
    }
    assert {str(e.distribution_id) for e in requested} == {
        ids["late_within_default_window"],
        ids["skip_within_threshold"],
    }
    by_name = {name: e for e in missed for name, d in ids.items() if str(e.distribution_id) == d}
    assert by_name["late_beyond_its_window"].grace_seconds == 3600
    assert 7190 <= by_name["late_beyond_its_window"].late_by_seconds <= 7230
    assert by_name["late_beyond_default_window"].grace_seconds == 86400
    assert by_name["skip_beyond_threshold"].grace_seconds == 60
    assert 115 <= by_name["skip_beyond_threshold"].late_by_seconds <= 135
