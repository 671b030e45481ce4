"""The audit log's table and the domain types stored in it.

One row per Herald event, keyed by ``(event_id, occurred_at)``. The table is range-partitioned by month on
``occurred_at``; PostgreSQL requires every unique key of a partitioned table to include the partition key, so event
ids are unique *per occurred_at*. That is enough for deduplication because both come from the same immutable event
payload: a redelivered or re-published event always carries the same id and the same ``occurred_at``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from sqlalchemy import Column, DateTime, MetaData, Table, Text, Uuid
from sqlalchemy.dialects.postgresql import JSONB

WRITER_ROLE: Final = "herald_audit_writer"
"""The NOLOGIN role every read and write of the service runs as (``SET LOCAL ROLE``): INSERT and SELECT only."""

metadata = MetaData()

events = Table(
    "events",
    metadata,
    Column("event_id", Text, primary_key=True),
    Column("occurred_at", DateTime(timezone=True), primary_key=True),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("event_type", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("team_id", Uuid, nullable=True),
    Column("actor", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("entity", Text, nullable=False),
    Column("entity_id", Text, nullable=False),
    Column("platform", Text, nullable=True),
    Column("correlation_id", Text, nullable=False),
    Column("metadata", JSONB, nullable=False),
)
"""``audit.events`` (created by migration 0001, partitioned by month)."""


class Action(StrEnum):
    """What happened, in the original system's vocabulary (``content_published`` ...)."""

    CONTENT_APPROVED = "content_approved"
    CONTENT_APPROVAL_WITHDRAWN = "content_approval_withdrawn"
    DISTRIBUTION_SCHEDULED = "distribution_scheduled"
    DISTRIBUTION_RESCHEDULED = "distribution_rescheduled"
    DISTRIBUTION_CANCELLED = "distribution_cancelled"
    DISTRIBUTION_MISSED = "distribution_missed"
    PUBLISH_REQUESTED = "publish_requested"
    CONTENT_PUBLISHED = "content_published"
    PUBLISH_RETRY_SCHEDULED = "publish_retry_scheduled"
    CONTENT_PUBLISH_FAILED = "content_publish_failed"
    CONTENT_PUBLISH_UNCONFIRMED = "content_publish_unconfirmed"
    ACCOUNT_CONNECTED = "account_connected"
    ACCOUNT_DISCONNECTED = "account_disconnected"
    ACCOUNT_REAUTH_REQUIRED = "account_reauth_required"
    TOKEN_REFRESHED = "token_refreshed"
    TOKEN_REFRESH_FAILED = "token_refresh_failed"
    MESSAGE_PARKED = "message_parked"
    MESSAGE_REPLAYED = "message_replayed"
    MESSAGE_PURGED = "message_purged"
    API_KEY_CREATED = "api_key_created"
    API_KEY_REVOKED = "api_key_revoked"
    MEDIA_UPLOADED = "media_uploaded"
    MEDIA_DELETED = "media_deleted"
    MEDIA_CLEANED_UP = "media_cleaned_up"
    EVENT_RECORDED = "event_recorded"
    """Fallback for an event type this service has no mapping for yet (a test forbids relying on it)."""


class Entity(StrEnum):
    """What the action happened to (the original system's entity names where it had one)."""

    CONTENT = "Content"
    CONTENT_DISTRIBUTION = "ContentDistribution"
    SOCIAL_MEDIA_ACCOUNT = "SocialMediaAccount"
    MESSAGE = "Message"
    API_KEY = "ApiKey"
    MEDIA = "Media"
    """A media item, an abandoned upload or an orphaned object in the media store."""
    EVENT = "Event"


@dataclass(frozen=True)
class AuditRecord:
    """One audit row before it is written (``recorded_at`` is set by the writer at commit time)."""

    event_id: str
    occurred_at: dt.datetime
    event_type: str
    source: str
    team_id: uuid.UUID | None
    actor: str
    action: Action
    entity: Entity
    entity_id: str
    platform: str | None
    correlation_id: str
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredRecord:
    """One audit row as read back."""

    event_id: str
    occurred_at: dt.datetime
    recorded_at: dt.datetime
    event_type: str
    source: str
    team_id: uuid.UUID | None
    actor: str
    action: str
    entity: str
    entity_id: str
    platform: str | None
    correlation_id: str
    metadata: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        """The row as the query API returns it."""
        return {
            "event_id": self.event_id,
            "event_type": self.event_type,
            "occurred_at": self.occurred_at.isoformat(),
            "recorded_at": self.recorded_at.isoformat(),
            "team_id": None if self.team_id is None else str(self.team_id),
            "actor": self.actor,
            "action": self.action,
            "entity": self.entity,
            "entity_id": self.entity_id,
            "platform": self.platform,
            "correlation_id": self.correlation_id,
            "source": self.source,
            "metadata": self.metadata,
        }
