"""The pipeline's outcome events, built in one place: succeeded, failed, unconfirmed and retry scheduled.

A final outcome is built from the ledger's record of the distribution, and its event id is derived from the
distribution (and generation), so re-emitting it after a crash produces the identical event (same id, same time)
and downstream consumers deduplicate it. A retry announcement gets a fresh id: each retry is a distinct event.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import TypeAlias, TypedDict

from herald.contracts.base import service_actor
from herald.contracts.platform import Platform
from herald.contracts.publishing import (
    FailureReason,
    PublishFailed,
    PublishRequested,
    PublishRetryScheduled,
    PublishSucceeded,
    PublishUnconfirmed,
)
from herald.kit.clock import Clock, utc_now
from herald.publishing.ledger import Delivery, Failure
from herald.publishing.retry import RetryPlan

EVENT_NAMESPACE = uuid.UUID("8a4c9a52-58a5-4d8b-9f0e-8f3a5b1c7e21")

OutcomeEvent: TypeAlias = PublishSucceeded | PublishFailed | PublishUnconfirmed | PublishRetryScheduled


def event_id(distribution_id: uuid.UUID, kind: str, generation: str = "") -> str:
    """The id of a distribution's outcome event: the same every time it is (re-)emitted in one generation."""
    return str(uuid.uuid5(EVENT_NAMESPACE, f"{distribution_id}:{kind}:{generation}"))


@dataclass(frozen=True)
class Outcome:
    """An outcome event and the id it is published under."""

    event: OutcomeEvent
    event_id: str


@dataclass(frozen=True)
class RetryCause:
    """Why a retry was scheduled, as the ``PublishRetryScheduled`` event reports it."""

    error_class: str
    reason: str
    http_status: int | None = None


class _Common(TypedDict):
    team_id: uuid.UUID
    correlation_id: str
    actor: str
    occurred_at: dt.datetime
    distribution_id: uuid.UUID
    content_id: uuid.UUID
    platform: Platform
    account_id: uuid.UUID
    attempt: int


class Outcomes:
    """Builds the outcome events of one publisher (``service_name`` is their actor)."""

    def __init__(self, service_name: str, clock: Clock = utc_now) -> None:
        self._actor = service_actor(service_name)
        self._clock = clock

    def succeeded(self, request: PublishRequested, delivery: Delivery, *, reconciled: bool) -> Outcome:
        """``PublishSucceeded`` from the ledger's record: a re-emission is the same event (id and time)."""
        event = PublishSucceeded(
            **self._common(request, max(delivery.attempt, 1), delivery.finished_at),
            external_post_id=delivery.post_id or "",
            url=delivery.post_url,
            title=request.title,
            published_at=delivery.finished_at or self._clock(),
            scheduled_at=request.scheduled_at,
            reconciled=reconciled,
        )
        return Outcome(event, event_id(request.distribution_id, "succeeded"))

    def failed(self, request: PublishRequested, delivery: Delivery) -> Outcome:
        """``PublishFailed`` from the ledger's record, so a re-emission is the identical event."""
        failure = delivery.failure or Failure(FailureReason.PERMANENT.value, "failed")
        event = PublishFailed(
            **self._common(request, max(delivery.attempt, 1), delivery.finished_at),
            reason=FailureReason(failure.reason),
            error_class=failure.error_class,
            message=failure.message,
            http_status=failure.http_status,
            response_excerpt=failure.response_excerpt,
            existing_post_id=failure.existing_post_id,
        )
        return Outcome(event, event_id(request.distribution_id, "failed", delivery.generation))

    def unconfirmed(self, request: PublishRequested, delivery: Delivery) -> Outcome:
        """``PublishUnconfirmed`` from the ledger's record: a human must decide whether the post exists."""
        failure = delivery.failure or Failure("unconfirmed", "outcome unknown")
        event = PublishUnconfirmed(
            **self._common(request, max(delivery.attempt, 1), delivery.finished_at),
            reason=failure.message,
            error_class=failure.error_class,
            http_status=failure.http_status,
        )
        return Outcome(event, event_id(request.distribution_id, "unconfirmed", delivery.generation))

    def retry_scheduled(self, request: PublishRequested, attempt: int, plan: RetryPlan, cause: RetryCause) -> Outcome:
        """``PublishRetryScheduled`` for failed attempt ``attempt``, to be tried again by ``plan``."""
        event = PublishRetryScheduled(
            **self._common(request, attempt, None),
            next_attempt_at=plan.next_attempt_at,
            delay_seconds=plan.delay_seconds,
            error_class=cause.error_class,
            reason=cause.reason[:500] or cause.error_class,
            http_status=cause.http_status,
        )
        return Outcome(event, str(uuid.uuid4()))

    def _common(self, request: PublishRequested, attempt: int, occurred_at: dt.datetime | None) -> _Common:
        return {
            "team_id": request.team_id,
            "correlation_id": request.correlation_id,
            "actor": self._actor,
            "occurred_at": occurred_at or self._clock(),
            "distribution_id": request.distribution_id,
            "content_id": request.content_id,
            "platform": request.platform,
            "account_id": request.account_id,
            "attempt": attempt,
        }
