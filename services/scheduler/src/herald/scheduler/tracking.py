"""What the scheduler learns from other services: publish outcomes and connected accounts.

Each consumed event is applied once (its CloudEvents id is recorded in ``processed_events`` in the same
transaction), so a redelivery or a duplicate publish changes nothing.

Publish outcomes move a distribution forward and never back. An outcome is ordered by ``(attempt, rank,
occurred_at)``, where a final outcome ranks above a retry of the same attempt; one that is not newer than the last
applied outcome is recorded in the attempt history but changes nothing. Final states stay final, with one
exception: a success always wins (the post is live, whatever the scheduler thought, e.g. after a cancellation
that reached the publisher too late, or a reconciled unconfirmed attempt).

Outcomes arrive in batches (:meth:`Tracker.apply_outcomes`): one transaction per batch locks every distribution of
the batch in one statement, records the event ids in one statement, folds each distribution's outcomes through
:func:`decide` in delivery order (exactly what applying them one by one would do), and writes every attempt row and
every distribution update in one statement.

Account events feed the ``accounts`` projection (the tokens service owns accounts; services never call each
other). An account that is disconnected has its not-yet-published distributions cancelled.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from herald.contracts.accounts import AccountConnected, AccountDisconnected, AccountReauthRequired
from herald.contracts.base import SYSTEM_ACTOR, Event
from herald.contracts.envelope import ReceivedEvent
from herald.contracts.publishing import PublishFailed, PublishRetryScheduled, PublishSucceeded, PublishUnconfirmed
from herald.kit.consumers import UnprocessableMessage
from herald.kit.pg_notify import wait_first
from herald.scheduler import events
from herald.scheduler import repository as repo
from herald.scheduler.events import EnvelopeFactory
from herald.scheduler.models import CANCELLABLE, IN_FLIGHT, AccountStatus, Distribution, DistributionStatus, Outcome

log = logging.getLogger(__name__)

OutcomeEvent = PublishSucceeded | PublishRetryScheduled | PublishFailed | PublishUnconfirmed
AccountEvent = AccountConnected | AccountDisconnected | AccountReauthRequired

RANK: dict[Outcome, int] = {Outcome.RETRY_SCHEDULED: 0, Outcome.SUCCEEDED: 1, Outcome.FAILED: 1, Outcome.UNCONFIRMED: 1}
"""Of two outcomes of the same attempt, a final one is newer than a retry."""
_TARGET = {
    Outcome.SUCCEEDED: DistributionStatus.PUBLISHED,
    Outcome.RETRY_SCHEDULED: DistributionStatus.RETRYING,
    Outcome.FAILED: DistributionStatus.FAILED,
    Outcome.UNCONFIRMED: DistributionStatus.UNCONFIRMED,
}
_ACCOUNT_STATUS = {
    AccountConnected: AccountStatus.CONNECTED,
    AccountDisconnected: AccountStatus.DISCONNECTED,
    AccountReauthRequired: AccountStatus.REAUTH_REQUIRED,
}
_EPOCH = dt.datetime.min.replace(tzinfo=dt.UTC)

Order = tuple[int, int, dt.datetime]
"""``(attempt, rank, occurred_at)`` of an outcome: of two outcomes, the one with the greater order is the newer."""
NOTHING_APPLIED: Order = (0, 0, _EPOCH)


@dataclass(frozen=True)
class Standing:
    """Where a distribution stands, as far as outcomes are concerned: its status and the last outcome applied."""

    status: DistributionStatus
    applied: Order = NOTHING_APPLIED

    @classmethod
    def of(cls, distribution: Distribution) -> Standing:
        last = (distribution.last_attempt, distribution.last_outcome_rank, distribution.last_outcome_at or _EPOCH)
        return cls(distribution.status, last)


@dataclass(frozen=True)
class Report:
    """A publish outcome, reduced to what the state machine and the attempt history need."""

    outcome: Outcome
    attempt: int
    occurred_at: dt.datetime
    history: dict[str, Any]
    """Columns of the ``attempts`` row."""
    changes: dict[str, Any]
    """Columns of the ``distributions`` row to set if the outcome is applied."""

    @property
    def order(self) -> Order:
        return (self.attempt, RANK[self.outcome], self.occurred_at)


def decide(standing: Standing, outcome: Outcome, order: Order) -> DistributionStatus | None:
    """The distribution's new status after an outcome of ``order``, or None if it must not change.

    A pure function of its arguments (no I/O, no clock): a success always wins unless already published; any other
    outcome moves only an in-flight distribution, and only if it is newer than the last one applied (so a stale or
    re-delivered outcome changes nothing).
    """
    if standing.status is DistributionStatus.PUBLISHED:
        return None
    if outcome is Outcome.SUCCEEDED:
        return DistributionStatus.PUBLISHED
    if standing.status not in IN_FLIGHT or order <= standing.applied:
        return None
    return _TARGET[outcome]


def report_of(event: OutcomeEvent) -> Report:
    common: dict[str, Any] = {"error_class": None, "message": None, "http_status": None, "next_attempt_at": None}
    history: dict[str, Any]
    changes: dict[str, Any]
    match event:
        case PublishSucceeded():
            outcome = Outcome.SUCCEEDED
            history = {"external_post_id": event.external_post_id, "url": event.url}
            changes = {
                "external_post_id": event.external_post_id,
                "post_url": event.url,
                "published_at": event.published_at,
                "failure_reason": None,
                "failure_message": None,
            }
        case PublishRetryScheduled():
            outcome = Outcome.RETRY_SCHEDULED
            history = {
                "error_class": event.error_class,
                "message": event.reason,
                "http_status": event.http_status,
                "next_attempt_at": event.next_attempt_at,
            }
            changes = {"failure_message": event.reason}
        case PublishFailed():
            outcome = Outcome.FAILED
            history = {"error_class": event.error_class, "message": event.message, "http_status": event.http_status}
            changes = {"failure_reason": event.reason.value, "failure_message": event.message}
        case _:  # PublishUnconfirmed
            outcome = Outcome.UNCONFIRMED
            history = {"error_class": event.error_class, "message": event.reason, "http_status": event.http_status}
            changes = {"failure_message": event.reason}
    next_attempt = history.get("next_attempt_at")
    return Report(
        outcome=outcome,
        attempt=event.attempt,
        occurred_at=event.occurred_at,
        history=common | history | {"outcome": outcome.value, "attempt": event.attempt},
        changes=changes | {"next_attempt_at": next_attempt},
    )


@dataclass(frozen=True)
class Consumed:
    """One outcome event of a batch, as read from its delivery."""

    event_id: str
    event_type: str
    event: OutcomeEvent


@dataclass(frozen=True)
class BatchApplied:
    """What a batch of outcomes did."""

    applied: int = 0
    """Outcomes recorded for the first time (whether or not they changed their distribution)."""
    duplicates: int = 0
    """Outcomes already processed (redeliveries, duplicate publishes), ignored."""
    unknown: dict[int, str] | None = None
    """Index (in the batch) -> why: outcomes about no distribution of their team, nothing recorded (park them)."""


def fold(current: Distribution, outcomes: Sequence[tuple[str, Report]]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Apply ``outcomes`` (``(event_id, report)``, in delivery order) to ``current`` through :func:`decide`, as one
    by one: the attempt rows to record, and the distribution's changes (empty if none applied)."""
    standing = Standing.of(current)
    rows: list[dict[str, Any]] = []
    changes: dict[str, Any] = {}
    for event_id, report in outcomes:
        status = decide(standing, report.outcome, report.order)
        rows.append(
            report.history
            | {
                "event_id": event_id,
                "distribution_id": current.distribution_id,
                "occurred_at": report.occurred_at,
                "applied": status is not None,
                "external_post_id": report.history.get("external_post_id"),
                "url": report.history.get("url"),
            }
        )
        if status is None:
            log.info(
                "outcome recorded without a state change",
                extra={"distribution_id": str(current.distribution_id), "status": standing.status},
            )
            continue
        changes |= report.changes | {
            "status": status.value,
            "last_attempt": report.attempt,
            "last_outcome_rank": RANK[report.outcome],
            "last_outcome_at": report.occurred_at,
        }
        standing = Standing(status, report.order)
    return rows, changes


class Tracker:
    """Applies consumed events to the scheduler's state, each exactly once."""

    def __init__(
        self, engine: AsyncEngine, envelopes: EnvelopeFactory, *, retention: dt.timedelta, interval_seconds: float
    ) -> None:
        self._engine = engine
        self._envelopes = envelopes
        self._retention = retention
        self._interval = interval_seconds

    async def housekeeping(self, stop: asyncio.Event) -> None:
        """A background loop: prune consumed event ids older than the retention, once per interval."""
        while not stop.is_set():
            try:
                async with self._engine.begin() as conn:
                    pruned = await repo.prune_processed_events(conn, self._retention)
                if pruned:
                    log.info("consumed event ids pruned", extra={"rows": pruned})
            except Exception:
                log.warning("pruning consumed event ids failed", exc_info=True)
            await wait_first((stop,), self._interval)

    async def apply(self, received: ReceivedEvent) -> bool:
        """Apply one event; False if it was a duplicate or of a type the scheduler ignores."""
        event = received.event
        if not isinstance(event, OutcomeEvent | AccountEvent):
            return False
        event_id, event_type = received.attributes.id, received.attributes.type
        async with self._engine.begin() as conn:
            if isinstance(event, AccountEvent):
                first, current = await repo.first_time(conn, event_id, event_type), None
            else:  # the dedup and the locked read of the distribution in one round trip
                first, current = await repo.first_time_for(conn, event_id, event_type, event.distribution_id)
            if not first:
                log.info("duplicate event ignored", extra={"event_id": event_id})
                return False
            if isinstance(event, AccountEvent):
                await self._account(conn, event)
            else:
                await self._outcome(conn, event_id, event, current)
        return True

    async def apply_outcomes(self, batch: Sequence[Consumed]) -> BatchApplied:
        """Apply a batch of outcome events in one transaction (see the module docstring); each event id once.

        Outcomes about an unknown distribution (or another team's) are not recorded, so a replay after a fix is
        not mistaken for a duplicate: the caller parks them. Raises if the transaction fails; nothing is then
        recorded and the caller isolates the event at fault by applying them one by one.
        """
        unknown: dict[int, str] = {}
        async with repo.driver_transaction(self._engine) as db:
            current = await repo.distributions_for_update_set(db, {c.event.distribution_id for c in batch})
            valid: dict[str, Consumed] = {}  # the first delivery of each event id, in delivery order
            for index, consumed in enumerate(batch):
                found = current.get(consumed.event.distribution_id)
                if found is None or found.team_id != consumed.event.team_id:
                    event = consumed.event
                    unknown[index] = (
                        f"{event.ce_type()}: no distribution {event.distribution_id} of team {event.team_id}"
                    )
                else:
                    valid.setdefault(consumed.event_id, consumed)
            fresh = await repo.first_times_set(db, [(c.event_id, c.event_type) for c in valid.values()])
            by_distribution: dict[uuid.UUID, list[tuple[str, Report]]] = {}
            for event_id, consumed in valid.items():
                if event_id in fresh:
                    by_distribution.setdefault(consumed.event.distribution_id, []).append(
                        (event_id, report_of(consumed.event))
                    )
            rows: list[dict[str, Any]] = []
            changes: dict[uuid.UUID, dict[str, Any]] = {}
            for distribution_id, outcomes in by_distribution.items():
                attempt_rows, changed = fold(current[distribution_id], outcomes)
                rows += attempt_rows
                if changed:
                    changes[distribution_id] = changed
            await repo.record_outcomes_set(db, rows, changes)
        duplicates = len(batch) - len(unknown) - len(rows)
        if duplicates:
            log.info("duplicate events ignored", extra={"count": duplicates})
        return BatchApplied(applied=len(rows), duplicates=duplicates, unknown=unknown)

    async def _outcome(
        self, conn: AsyncConnection, event_id: str, event: OutcomeEvent, current: Distribution | None
    ) -> None:
        if current is None or current.team_id != event.team_id:
            # Nothing to apply it to: parked with the reason (reported and audited), not silently dropped.
            raise UnprocessableMessage(
                f"{event.ce_type()}: no distribution {event.distribution_id} of team {event.team_id}"
            )
        report = report_of(event)
        status = decide(Standing.of(current), report.outcome, report.order)
        attempt = report.history | {
            "event_id": event_id,
            "distribution_id": current.distribution_id,
            "occurred_at": report.occurred_at,
            "applied": status is not None,
        }
        if status is None:
            await repo.record_outcome(conn, attempt, current.distribution_id, None)
            log.info(
                "outcome recorded without a state change",
                extra={"distribution_id": str(current.distribution_id), "status": current.status},
            )
            return
        order = {"last_attempt": report.attempt, "last_outcome_rank": RANK[report.outcome]}
        changes = report.changes | order | {"status": status.value, "last_outcome_at": report.occurred_at}
        await repo.record_outcome(conn, attempt, current.distribution_id, changes)

    async def _account(self, conn: AsyncConnection, event: AccountEvent) -> None:
        status = _ACCOUNT_STATUS[type(event)]
        values = repo.account_values(
            event.account_id,
            event.team_id,
            event.platform,
            status,
            event.account_name,
            event.occurred_at,
            surface=event.surface if isinstance(event, AccountConnected) else None,
        )
        applied = await repo.project_account(conn, values)
        if applied and isinstance(event, AccountDisconnected):
            await self._cancel_for_account(conn, event)

    async def _cancel_for_account(self, conn: AsyncConnection, event: AccountDisconnected) -> None:
        targets = await repo.distributions_of_account(conn, event.account_id, CANCELLABLE)
        reason = "account disconnected"
        await repo.set_status(
            conn, [d.distribution_id for d in targets], DistributionStatus.CANCELLED, cancel_reason=reason
        )
        outgoing: list[Event] = [events.cancelled(d, reason, SYSTEM_ACTOR, event.occurred_at) for d in targets]
        await events.emit(conn, self._envelopes, *outgoing)
