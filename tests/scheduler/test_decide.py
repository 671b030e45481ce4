"""How a publish outcome moves a distribution: ``decide`` over every (status, outcome) pair and every ordering of
the outcome against the last one applied (newer, stale, re-delivered). Pure: no broker, no database.

``test_outcomes.py`` checks the same rules end to end through the scheduler's consumer and API.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from typing import Any

import pytest

from herald.contracts.base import service_actor
from herald.contracts.platform import Platform
from herald.contracts.publishing import (
    FailureReason,
    PublishFailed,
    PublishRetryScheduled,
    PublishSucceeded,
    PublishUnconfirmed,
)
from herald.scheduler.models import Distribution, DistributionStatus, Outcome
from herald.scheduler.tracking import NOTHING_APPLIED, RANK, Order, Standing, decide, report_of

pytestmark = pytest.mark.fast

S = DistributionStatus
T0 = dt.datetime(2030, 1, 1, 12, 0, tzinfo=dt.UTC)
OUTCOMES = (Outcome.SUCCEEDED, Outcome.RETRY_SCHEDULED, Outcome.FAILED, Outcome.UNCONFIRMED)

WHEN_NEWER: dict[DistributionStatus, tuple[DistributionStatus | None, ...]] = {
    # status before        succeeded    retry_scheduled  failed    unconfirmed
    S.SCHEDULED: (S.PUBLISHED, None, None, None),
    S.QUEUED: (S.PUBLISHED, S.RETRYING, S.FAILED, S.UNCONFIRMED),
    S.RETRYING: (S.PUBLISHED, S.RETRYING, S.FAILED, S.UNCONFIRMED),
    S.PUBLISHED: (None, None, None, None),
    S.FAILED: (S.PUBLISHED, None, None, None),  # a success always wins: the post is live
    S.UNCONFIRMED: (S.PUBLISHED, None, None, None),  # e.g. reconciled later
    S.CANCELLED: (S.PUBLISHED, None, None, None),  # the cancel reached the publisher too late
    S.MISSED: (S.PUBLISHED, None, None, None),
}
WHEN_NOT_NEWER: dict[DistributionStatus, tuple[DistributionStatus | None, ...]] = {
    # a stale or re-delivered outcome moves nothing, except that a success still wins
    status: (S.PUBLISHED if status is not S.PUBLISHED else None, None, None, None)
    for status in DistributionStatus
}


def orderings(outcome: Outcome) -> list[tuple[str, Order, Order, bool]]:
    """(name, last applied, this outcome's order, is this one newer) for an outcome of this kind."""
    rank = RANK[outcome]
    final = RANK[Outcome.FAILED]
    retry = RANK[Outcome.RETRY_SCHEDULED]
    cases = [
        ("first outcome", NOTHING_APPLIED, (1, rank, T0), True),
        ("next attempt", (1, final, T0), (2, rank, T0 - dt.timedelta(minutes=1)), True),  # attempt beats clock
        ("older attempt arriving late", (2, retry, T0), (1, rank, T0 + dt.timedelta(hours=1)), False),
        # An operator's replay starts a new generation at attempt 1: older by order than the run it follows, so only
        # its success moves the distribution (the earlier run's failure was final).
        ("replayed generation back at attempt 1", (3, final, T0), (1, rank, T0 + dt.timedelta(days=1)), False),
        ("re-delivery of the applied outcome", (2, rank, T0), (2, rank, T0), False),
        ("same attempt and kind, later", (2, rank, T0), (2, rank, T0 + dt.timedelta(seconds=1)), True),
        ("same attempt and kind, earlier", (2, rank, T0), (2, rank, T0 - dt.timedelta(seconds=1)), False),
    ]
    if rank == final:
        cases.append(("final after its attempt's retry", (2, retry, T0 + dt.timedelta(hours=1)), (2, rank, T0), True))
    else:
        cases.append(("retry after its attempt's final", (2, final, T0), (2, rank, T0 + dt.timedelta(hours=1)), False))
    return cases


TABLE = [
    pytest.param(status, outcome, applied, order, newer, id=f"{status.value}-{outcome.value}-{name}")
    for status in DistributionStatus
    for outcome in OUTCOMES
    for name, applied, order, newer in orderings(outcome)
]


@pytest.mark.parametrize(("status", "outcome", "applied", "order", "newer"), TABLE)
def test_decide(status: S, outcome: Outcome, applied: Order, order: Order, newer: bool) -> None:
    expected = (WHEN_NEWER if newer else WHEN_NOT_NEWER)[status][OUTCOMES.index(outcome)]
    assert decide(Standing(status, applied), outcome, order) is expected


def test_the_tables_cover_every_status_and_outcome() -> None:
    assert set(WHEN_NEWER) == set(DistributionStatus) == set(WHEN_NOT_NEWER)
    assert set(OUTCOMES) == set(Outcome) == set(RANK)


def event(kind: type[Any], attempt: int, **fields: Any) -> Any:
    common = {
        "team_id": uuid.uuid4(),
        "correlation_id": "c-1",
        "actor": service_actor("publisher-x"),
        "occurred_at": T0,
        "distribution_id": uuid.uuid4(),
        "content_id": uuid.uuid4(),
        "platform": Platform.X,
        "account_id": uuid.uuid4(),
        "attempt": attempt,
    }
    return kind(**common, **fields)


def test_each_event_reduces_to_its_outcome_order_and_columns() -> None:
    succeeded = report_of(
        event(PublishSucceeded, 2, external_post_id="p-1", title="t", published_at=T0, scheduled_at=T0)
    )
    retry = report_of(
        event(
            PublishRetryScheduled,
            1,
            next_attempt_at=T0 + dt.timedelta(minutes=5),
            delay_seconds=300,
            error_class="retry_later",
            reason="429",
            http_status=429,
        )
    )
    failed = report_of(event(PublishFailed, 3, reason=FailureReason.PERMANENT, message="refused"))
    unconfirmed = report_of(event(PublishUnconfirmed, 1, reason="read-back failed"))
    assert [r.outcome for r in (succeeded, retry, failed, unconfirmed)] == list(OUTCOMES)
    assert succeeded.order == (2, 1, T0)
    assert retry.order == (1, 0, T0)
    assert succeeded.changes["external_post_id"] == "p-1"
    assert retry.changes["next_attempt_at"] == T0 + dt.timedelta(minutes=5)
    assert retry.history["http_status"] == 429
    assert failed.changes["failure_reason"] == "permanent"
    assert unconfirmed.history["message"] == "read-back failed"
    assert unconfirmed.history["outcome"] == "unconfirmed"


def test_a_distribution_that_never_had_an_outcome_stands_before_any() -> None:
    assert Standing(S.QUEUED).applied == NOTHING_APPLIED
    assert decide(Standing(S.QUEUED), Outcome.RETRY_SCHEDULED, (1, 0, T0)) is S.RETRYING


def test_a_distributions_standing_is_its_status_and_last_applied_outcome() -> None:
    blank: dict[str, Any] = {field.name: None for field in dataclasses.fields(Distribution)}
    never = Distribution(**blank | {"status": S.QUEUED, "last_attempt": 0, "last_outcome_rank": 0})
    assert Standing.of(never) == Standing(S.QUEUED, NOTHING_APPLIED)
    retried = Distribution(
        **blank | {"status": S.RETRYING, "last_attempt": 2, "last_outcome_rank": 0, "last_outcome_at": T0}
    )
    assert Standing.of(retried) == Standing(S.RETRYING, (2, 0, T0))
