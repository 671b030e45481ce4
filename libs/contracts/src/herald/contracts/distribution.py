"""Content approval and the life of a distribution (one content item scheduled on one account) before publishing.

The scheduler produces all of these; the audit service records them.
"""

from __future__ import annotations

from uuid import UUID

from pydantic import Field

from herald.contracts.base import ShortText, TeamEvent, UtcDatetime
from herald.contracts.platform import Platform

_SCHEDULER = ("scheduler",)
_AUDIT = ("audit",)


class ContentApproved(TeamEvent):
    """A content item was approved for publishing; its distributions may now be scheduled."""

    TYPE = "com.herald.content.approved"
    VERSION = 1
    SUBJECT_FIELD = "content_id"
    PRODUCERS = _SCHEDULER
    CONSUMERS = _AUDIT

    content_id: UUID
    """The approved content item."""
    title: str
    """The content title, for notifications and audit."""


class ContentApprovalWithdrawn(TeamEvent):
    """Approval of a content item was withdrawn; its pending distributions will not be published."""

    TYPE = "com.herald.content.approval_withdrawn"
    VERSION = 1
    SUBJECT_FIELD = "content_id"
    PRODUCERS = _SCHEDULER
    CONSUMERS = _AUDIT

    content_id: UUID
    """The content item that is no longer approved."""
    reason: str | None = None
    """Why, if the caller said."""


class _DistributionEvent(TeamEvent):
    """Fields shared by the distribution events."""

    SUBJECT_FIELD = "distribution_id"
    PRODUCERS = _SCHEDULER
    CONSUMERS = _AUDIT

    distribution_id: UUID
    """The distribution: one content item on one account."""
    content_id: UUID
    """The content item being distributed."""
    account_id: UUID
    """Herald's id of the connected account the content is published as."""
    platform: Platform
    """The platform of that account."""


class DistributionScheduled(_DistributionEvent):
    """A distribution was scheduled for publishing."""

    TYPE = "com.herald.distribution.scheduled"
    VERSION = 1

    scheduled_at: UtcDatetime
    """When it is due (UTC)."""
    timezone: str | None = Field(default=None, max_length=64)
    """The IANA zone the user scheduled in (e.g. ``Europe/Berlin``), for display; ``scheduled_at`` is authoritative."""


class DistributionRescheduled(_DistributionEvent):
    """A scheduled distribution was moved to another time."""

    TYPE = "com.herald.distribution.rescheduled"
    VERSION = 1

    previous_scheduled_at: UtcDatetime
    """When it was due before."""
    scheduled_at: UtcDatetime
    """When it is due now (UTC)."""
    timezone: str | None = Field(default=None, max_length=64)
    """The IANA zone the user scheduled in, for display."""


class DistributionCancelled(_DistributionEvent):
    """A distribution was cancelled before it was published; it will not be published."""

    TYPE = "com.herald.distribution.cancelled"
    VERSION = 1

    reason: ShortText
    """Why, e.g. ``cancelled by user`` or ``account disconnected``."""


class DistributionMissed(_DistributionEvent):
    """A distribution was not published because it was found too late after it was due (e.g. after an outage).

    It is not published late; a human may reschedule it.
    """

    TYPE = "com.herald.distribution.missed"
    VERSION = 1

    scheduled_at: UtcDatetime
    """When it was due (UTC)."""
    late_by_seconds: int = Field(ge=0)
    """How late the scheduler was when it noticed."""
    grace_seconds: int = Field(ge=0)
    """The lateness the scheduler tolerates before declaring a distribution missed."""
