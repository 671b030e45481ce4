"""Publish outcomes move a distribution forward, idempotently: duplicates and older events never move it back."""

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from herald.contracts.base import service_actor
from herald.contracts.operations import MessageParked
from herald.contracts.publishing import (
    FailureReason,
    PublishFailed,
    PublishRequested,
    PublishRetryScheduled,
    PublishSucceeded,
    PublishUnconfirmed,
)
from herald.contracts.routing import binding_key
from tests.scheduler.support import Broker, Team, now, wait_until, watching

Outcome = PublishSucceeded | PublishRetryScheduled | PublishFailed | PublishUnconfirmed
T0 = dt.datetime(2030, 1, 1, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
async def queued(
    amqp_url: str, client: httpx.AsyncClient, team: Team, content: dict[str, Any], x_account: uuid.UUID
) -> PublishRequested:
    """A distribution handed to the X publisher: the request the publisher received."""
    async with watching(amqp_url, "publish.requested.v2.x") as watch:
        response = await client.post(
            "/v1/distributions",
            json={
                "content_id": content["content_id"],
                "platform": "x",
                "account_id": str(x_account),
                "publish_at": now().isoformat(),
            },
            headers=team.headers,
        )
        assert response.status_code == 201, response.text
        [request] = await watch.wait_for(
            PublishRequested, distribution_id=uuid.UUID(response.json()["distribution_id"])
        )
    assert isinstance(request, PublishRequested)
    return request


def outcome(request: PublishRequested, kind: str, attempt: int, at: dt.datetime, **fields: Any) -> Outcome:
    common = {
        "team_id": request.team_id,
        "correlation_id": request.correlation_id,
        "actor": service_actor("publisher-x"),
        "occurred_at": at,
        "distribution_id": request.distribution_id,
        "content_id": request.content_id,
        "platform": request.platform,
        "account_id": request.account_id,
        "attempt": attempt,
    }
    match kind:
        case "succeeded":
            return PublishSucceeded(
                **common,
                external_post_id=f"post-{attempt}",
                url=f"https://x.example/status/post-{attempt}",
                title=request.title,
                published_at=at,
                scheduled_at=request.scheduled_at,
                **fields,
            )
        case "retry":
            return PublishRetryScheduled(
                **common,
                next_attempt_at=at + dt.timedelta(minutes=5),
                delay_seconds=300,
                error_class="retry_later",
                reason="429 Too Many Requests",
                http_status=429,
            )
        case "failed":
            return PublishFailed(
                **common, reason=FailureReason.ATTEMPTS_EXHAUSTED, error_class="retry_later", message="gave up"
            )
        case _:
            return PublishUnconfirmed(**common, reason="read timeout after 30 s", error_class="unknown_outcome")


Deliver = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
def deliver(client: httpx.AsyncClient, team: Team, broker: Broker) -> Deliver:
    """Publish outcome events on the broker (``(event, event id or None)``); return the distribution once its
    attempt history holds ``total`` entries."""

    async def run(request: PublishRequested, *events: tuple[Outcome, str | None], total: int) -> dict[str, Any]:
        for event, event_id in events:
            await broker.publish(event, event_id=event_id)

        async def recorded() -> dict[str, Any] | None:
            got = await client.get(f"/v1/distributions/{request.distribution_id}", headers=team.headers)
            body: dict[str, Any] = got.json()
            return body if len(body["attempts"]) >= total else None

        result: dict[str, Any] = await wait_until(recorded)
        return result

    return run


def once(event: Outcome) -> tuple[Outcome, None]:
    return (event, None)


async def test_retries_then_success(queued: PublishRequested, deliver: Deliver) -> None:
    got = await deliver(queued, once(outcome(queued, "retry", 1, T0)), total=1)
    assert (got["status"], got["attempts_made"]) == ("retrying", 1)
    assert got["next_attempt_at"] == "2030-01-01T12:05:00Z"
    got = await deliver(queued, once(outcome(queued, "succeeded", 2, T0 + dt.timedelta(minutes=5))), total=2)
    assert got["status"] == "published"
    assert (got["external_post_id"], got["post_url"]) == ("post-2", "https://x.example/status/post-2")
    assert got["published_at"] == "2030-01-01T12:05:00Z"
    assert [(a["attempt"], a["outcome"], a["applied"]) for a in got["attempts"]] == [
        (1, "retry_scheduled", True),
        (2, "succeeded", True),
    ]
    assert got["attempts"][0]["http_status"] == 429


async def test_duplicates_are_applied_once(queued: PublishRequested, deliver: Deliver) -> None:
    event_id = str(uuid.uuid4())
    retry = outcome(queued, "retry", 1, T0)
    await deliver(queued, (retry, event_id), (retry, event_id), (retry, event_id), total=1)
    # A later distinct event is applied after the duplicates; by then they have all been handled.
    got = await deliver(queued, once(outcome(queued, "failed", 5, T0 + dt.timedelta(hours=1))), total=2)
    assert [a["outcome"] for a in got["attempts"]] == ["retry_scheduled", "failed"]
    assert (got["status"], got["failure_reason"], got["failure_message"]) == ("failed", "attempts_exhausted", "gave up")


async def test_older_events_arriving_late_never_move_the_state_back(queued: PublishRequested, deliver: Deliver) -> None:
    success = outcome(queued, "succeeded", 2, T0 + dt.timedelta(minutes=5))
    late_retry = outcome(queued, "retry", 1, T0)
    late_failure = outcome(queued, "failed", 2, T0 + dt.timedelta(minutes=6))
    # The consumer handles deliveries concurrently, so "late" means sent after the success was recorded.
    await deliver(queued, once(success), total=1)
    got = await deliver(queued, once(late_retry), once(late_failure), total=3)
    assert got["status"] == "published"
    assert got["external_post_id"] == "post-2"
    applied = {(a["outcome"], a["attempt"]): a["applied"] for a in got["attempts"]}
    assert applied == {("succeeded", 2): True, ("retry_scheduled", 1): False, ("failed", 2): False}


async def test_a_retry_older_than_the_last_one_is_recorded_but_ignored(
    queued: PublishRequested, deliver: Deliver
) -> None:
    newer, older = outcome(queued, "retry", 2, T0 + dt.timedelta(minutes=5)), outcome(queued, "retry", 1, T0)
    await deliver(queued, once(newer), total=1)
    got = await deliver(queued, once(older), total=2)
    assert (got["status"], got["attempts_made"]) == ("retrying", 2)
    assert got["next_attempt_at"] == "2030-01-01T12:10:00Z"
    assert [(a["attempt"], a["applied"]) for a in got["attempts"]] == [(1, False), (2, True)]
    # Same attempt: the final outcome outranks the retry, even when the retry looks newer.
    final = outcome(queued, "failed", 3, T0 + dt.timedelta(minutes=10))
    retry_same_attempt = outcome(queued, "retry", 3, T0 + dt.timedelta(minutes=11))
    got = await deliver(queued, once(final), once(retry_same_attempt), total=4)
    assert (got["status"], got["next_attempt_at"]) == ("failed", None)


async def test_unconfirmed_then_reconciled_success(queued: PublishRequested, deliver: Deliver) -> None:
    got = await deliver(queued, once(outcome(queued, "unconfirmed", 1, T0)), total=1)
    assert (got["status"], got["failure_message"]) == ("unconfirmed", "read timeout after 30 s")
    late_retry = outcome(queued, "retry", 2, T0 + dt.timedelta(minutes=1))
    got = await deliver(queued, once(late_retry), total=2)
    assert got["status"] == "unconfirmed"  # final: a retry cannot reopen it
    reconciled = outcome(queued, "succeeded", 1, T0 + dt.timedelta(hours=1), reconciled=True)
    got = await deliver(queued, once(reconciled), total=3)
    assert (got["status"], got["failure_message"]) == ("published", None)


async def test_a_success_after_a_late_cancellation_wins(
    queued: PublishRequested, deliver: Deliver, client: httpx.AsyncClient, team: Team
) -> None:
    cancelled = await client.post(f"/v1/distributions/{queued.distribution_id}/cancel", headers=team.headers)
    assert cancelled.json()["status"] == "cancelled"
    got = await deliver(queued, once(outcome(queued, "retry", 1, T0)), total=1)
    assert (got["status"], got["attempts"][0]["applied"]) == ("cancelled", False)
    got = await deliver(queued, once(outcome(queued, "succeeded", 2, T0)), total=2)
    assert got["status"] == "published"  # the post is live: the record must say so
    refused = await client.post(f"/v1/distributions/{queued.distribution_id}/cancel", headers=team.headers)
    assert refused.status_code == 409


async def test_outcomes_for_unknown_or_foreign_distributions_are_parked_with_their_reason(
    queued: PublishRequested, deliver: Deliver, broker: Broker, amqp_url: str
) -> None:
    stranger = queued.model_copy(update={"distribution_id": uuid.uuid4()})
    foreign = queued.model_copy(update={"team_id": uuid.uuid4()})
    async with watching(amqp_url, binding_key(MessageParked)) as parks:
        stranger_id = await broker.publish(outcome(stranger, "succeeded", 1, T0))
        foreign_id = await broker.publish(outcome(foreign, "succeeded", 1, T0))
        reports = await parks.wait_for(MessageParked, count=2)
    by_id = {report.original_message_id: report for report in reports}
    assert f"no distribution {stranger.distribution_id}" in by_id[stranger_id].reason
    assert f"of team {foreign.team_id}" in by_id[foreign_id].reason
    assert {report.queue for report in reports} == {"scheduler"}
    got = await deliver(queued, once(outcome(queued, "retry", 1, T0)), total=1)
    assert got["status"] == "retrying"
    assert len(got["attempts"]) == 1
