"""The events the scheduler emits, built from its domain types, and the one way it emits them: the outbox.

Every event is written to the outbox in the transaction that makes the change it reports, so an event is
published if and only if the change committed. Distribution events carry the distribution id as correlation id
(it ties the request to every publisher outcome); content events carry the content id.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypedDict

from sqlalchemy.ext.asyncio import AsyncConnection

from herald.contracts.base import SYSTEM_ACTOR, Event
from herald.contracts.distribution import (
    ContentApprovalWithdrawn,
    ContentApproved,
    DistributionCancelled,
    DistributionMissed,
    DistributionRescheduled,
    DistributionScheduled,
)
from herald.contracts.envelope import AmqpEnvelope
from herald.contracts.media import MediaReference
from herald.contracts.platform import Platform
from herald.contracts.publishing import PublishRequested
from herald.kit import outbox
from herald.scheduler.models import Content, Distribution, outbox_table

EnvelopeFactory = Callable[[Event], AmqpEnvelope]
"""Turns an event into the AMQP message to publish (``EventPublisher.envelope``)."""


async def emit(conn: AsyncConnection, envelopes: EnvelopeFactory, *events: Event) -> list[str]:
    """Write ``events`` to the outbox in ``conn``'s transaction; returns their event ids."""
    built = [envelopes(event) for event in events]
    await outbox.add_many(conn, built, table=outbox_table)
    return [envelope.message_id for envelope in built]


async def emit_set(db: Any, envelopes: EnvelopeFactory, *events: Event) -> list[str]:
    """:func:`emit` on the bare asyncpg connection of :func:`herald.scheduler.repository.driver_transaction`, in one
    statement however many events there are."""
    built = [envelopes(event) for event in events]
    await outbox.add_set(db, built, table=outbox_table)
    return [envelope.message_id for envelope in built]


class _DistributionFields(TypedDict):
    team_id: uuid.UUID
    correlation_id: str
    distribution_id: uuid.UUID
    content_id: uuid.UUID
    account_id: uuid.UUID
    platform: Platform


def _about(d: Distribution) -> _DistributionFields:
    """The fields every event about a distribution carries (its id is the correlation id)."""
    return {
        "team_id": d.team_id,
        "correlation_id": str(d.distribution_id),
        "distribution_id": d.distribution_id,
        "content_id": d.content_id,
        "account_id": d.account_id,
        "platform": d.platform,
    }


def scheduled_row(row: Mapping[str, Any], actor: str, now: dt.datetime) -> DistributionScheduled:
    """``DistributionScheduled`` for a distribution about to be inserted (``row`` as
    :func:`herald.scheduler.repository.insert_distributions_set` takes it), so the row and its event are written
    by one statement."""
    return DistributionScheduled(
        team_id=row["team_id"],
        correlation_id=str(row["distribution_id"]),
        distribution_id=row["distribution_id"],
        content_id=row["content_id"],
        account_id=row["account_id"],
        platform=Platform(row["platform"]),
        actor=actor,
        occurred_at=now,
        scheduled_at=row["scheduled_at"],
        timezone=row["timezone"],
    )


def rescheduled(d: Distribution, previous: dt.datetime, actor: str, now: dt.datetime) -> DistributionRescheduled:
    return DistributionRescheduled(
        **_about(d),
        actor=actor,
        occurred_at=now,
        previous_scheduled_at=previous,
        scheduled_at=d.scheduled_at,
        timezone=d.timezone,
    )


def cancelled(d: Distribution, reason: str, actor: str, now: dt.datetime) -> DistributionCancelled:
    return DistributionCancelled(
        **_about(d),
        actor=actor,
        occurred_at=now,
        reason=reason,
    )


def missed(d: Distribution, late_by: float, grace: int, now: dt.datetime) -> DistributionMissed:
    return DistributionMissed(
        **_about(d),
        actor=SYSTEM_ACTOR,
        occurred_at=now,
        scheduled_at=d.scheduled_at,
        late_by_seconds=int(late_by),
        grace_seconds=grace,
    )


def publish_requested(
    d: Distribution,
    *,
    title: str,
    text: str,
    link: str | None,
    now: dt.datetime,
    media: Sequence[MediaReference] = (),
) -> PublishRequested:
    """Everything a platform publisher needs to publish ``d`` without asking the scheduler anything: the text, the
    surface the account publishes on and the content's media references (in posting order, with alt texts)."""
    return PublishRequested(
        **_about(d),
        actor=SYSTEM_ACTOR,
        occurred_at=now,
        title=title,
        text=text,
        link=link,
        over_length=d.over_length,
        scheduled_at=d.scheduled_at,
        max_attempts=d.max_attempts,
        base_delay_seconds=d.base_delay_seconds,
        surface=d.publish_surface,
        media=list(media),
    )


def content_approved(c: Content, actor: str, now: dt.datetime) -> ContentApproved:
    return ContentApproved(
        team_id=c.team_id,
        correlation_id=str(c.content_id),
        actor=actor,
        occurred_at=now,
        content_id=c.content_id,
        title=c.title,
    )


def approval_withdrawn(c: Content, reason: str | None, actor: str, now: dt.datetime) -> ContentApprovalWithdrawn:
    return ContentApprovalWithdrawn(
        team_id=c.team_id,
        correlation_id=str(c.content_id),
        actor=actor,
        occurred_at=now,
        content_id=c.content_id,
        reason=reason,
    )
