"""The scheduler's tables (schema ``scheduler``) and the domain types read from them.

``contents``       what a team wants to post; only ``approved`` content is ever published. ``media`` holds the
                   snapshot of its media items (``MediaReference`` JSON with ``alt_text``, in posting order) taken
                   from the media service when the content was created or its media last changed.
``distributions``  one content item to one account on one platform at one time, and where it is in its life.
``attempts``       every publish outcome event received for a distribution (its attempt history).
``accounts``       a projection of the tokens service's account events: which accounts exist, whose they are, and
                   (Meta) on which surface they publish.
``processed_events`` ids of consumed events, so a redelivered event is applied once.
``outbox``         events waiting for the relay (see :mod:`herald.kit.outbox`).

All times are ``timestamptz`` (UTC); the IANA zone a distribution was scheduled in is kept beside its time.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, fields
from enum import Enum, StrEnum
from typing import Any, Protocol, Self, get_type_hints

from sqlalchemy import (
    Boolean,
    Column,
    Computed,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Row,
    String,
    Table,
    Text,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from herald.contracts.media import MediaReference, Surface
from herald.contracts.platform import Platform
from herald.contracts.publishing import OverLengthPolicy
from herald.kit.outbox import define_outbox


class ContentStatus(StrEnum):
    DRAFT = "draft"
    APPROVED = "approved"
    ARCHIVED = "archived"


class DistributionStatus(StrEnum):
    """Where a distribution is. ``published``, ``failed``, ``unconfirmed``, ``cancelled`` and ``missed`` are final
    (except that a success reported by a publisher always wins: the post is live)."""

    SCHEDULED = "scheduled"
    QUEUED = "queued"
    RETRYING = "retrying"
    PUBLISHED = "published"
    FAILED = "failed"
    UNCONFIRMED = "unconfirmed"
    CANCELLED = "cancelled"
    MISSED = "missed"


WAITING = frozenset({DistributionStatus.SCHEDULED})
"""Not yet handed to a publisher."""
IN_FLIGHT = frozenset({DistributionStatus.QUEUED, DistributionStatus.RETRYING})
"""Handed to a publisher (``PublishRequested`` sent), no final outcome yet."""
CANCELLABLE = WAITING | IN_FLIGHT
RESCHEDULABLE = frozenset({DistributionStatus.SCHEDULED, DistributionStatus.MISSED})
SENT = IN_FLIGHT | {DistributionStatus.PUBLISHED, DistributionStatus.UNCONFIRMED}
"""Its text has gone to a publisher: the content can no longer be edited."""


class MisfirePolicy(StrEnum):
    """What the due loop does with a distribution it finds overdue by more than the misfire threshold."""

    PUBLISH_LATE = "publish_late"
    """Publish it anyway if it is no later than its misfire window; otherwise it is missed."""
    SKIP = "skip"
    """Do not publish it: mark it missed."""


class DstResolution(StrEnum):
    """How to read a local time that a DST change makes ambiguous (it happens twice) or nonexistent (skipped)."""

    REJECT = "reject"
    """Answer 422 (the default): the caller must choose."""
    EARLIER = "earlier"
    """The earlier of the two instants: the first occurrence of an ambiguous time; for a nonexistent time, the
    wall time read with the offset in force after the change (e.g. 02:30 in a 02:00->03:00 gap is 01:30 before
    the change)."""
    LATER = "later"
    """The later of the two instants: the second occurrence of an ambiguous time; for a nonexistent time, the
    wall time read with the offset in force before the change (02:30 in a 02:00->03:00 gap is 03:30 after it)."""


class AccountStatus(StrEnum):
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    REAUTH_REQUIRED = "reauth_required"


class Outcome(StrEnum):
    SUCCEEDED = "succeeded"
    RETRY_SCHEDULED = "retry_scheduled"
    FAILED = "failed"
    UNCONFIRMED = "unconfirmed"


metadata = MetaData()
outbox_table = define_outbox(metadata)


def _timestamps() -> list[Column[Any]]:
    return [
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    ]


accounts = Table(
    "accounts",
    metadata,
    Column("account_id", Uuid, primary_key=True),
    Column("team_id", Uuid, nullable=False, index=True),
    Column("platform", String(16), nullable=False),
    Column("status", String(32), nullable=False),
    Column("account_name", Text, nullable=False, server_default=""),
    Column("changed_at", DateTime(timezone=True), nullable=False),  # occurred_at of the event that set status
    Column("surface", String(16)),  # AccountConnected.surface; null: the platform's usual one (see account_surface)
    *_timestamps(),
)

contents = Table(
    "contents",
    metadata,
    Column("content_id", Uuid, primary_key=True),
    Column("team_id", Uuid, nullable=False, index=True),
    Column("title", Text, nullable=False),
    Column("text", Text, nullable=False),
    Column("link", Text),
    Column("status", String(16), nullable=False),
    Column("approved_at", DateTime(timezone=True)),
    Column("approved_by", String(80)),
    Column("archived_at", DateTime(timezone=True)),
    *_timestamps(),
    Column("media", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    # The holders lookup: which contents use a media item (``media @> '[{"media_id": ...}]'``).
    Index("ix_contents_media", "media", postgresql_using="gin", postgresql_ops={"media": "jsonb_path_ops"}),
)

distributions = Table(
    "distributions",
    metadata,
    Column("distribution_id", Uuid, primary_key=True),
    Column("team_id", Uuid, nullable=False),
    Column("content_id", Uuid, ForeignKey("contents.content_id"), nullable=False, index=True),
    Column("account_id", Uuid, nullable=False, index=True),
    Column("platform", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("scheduled_at", DateTime(timezone=True), nullable=False),
    Column("timezone", String(64)),
    Column("local_time", String(32)),
    Column("max_attempts", Integer, nullable=False),
    Column("base_delay_seconds", Integer, nullable=False),
    Column("misfire_policy", String(16), nullable=False),
    Column("misfire_window_seconds", Integer, nullable=False),
    Column("over_length", String(16), nullable=False),
    Column("requested_at", DateTime(timezone=True)),
    Column("request_event_id", String(64)),
    Column("last_attempt", Integer, nullable=False, server_default="0"),
    Column("last_outcome_rank", Integer, nullable=False, server_default="0"),
    Column("last_outcome_at", DateTime(timezone=True)),
    Column("next_attempt_at", DateTime(timezone=True)),
    Column("external_post_id", Text),
    Column("post_url", Text),
    Column("published_at", DateTime(timezone=True)),
    Column("failure_reason", String(32)),
    Column("failure_message", Text),
    Column("cancel_reason", Text),
    *_timestamps(),
    Column("surface", String(16)),  # the account's surface when it was scheduled (what PublishRequested carries)
    # Listing: a team's distributions in time order (keyset pagination on (scheduled_at, distribution_id)).
    Index("ix_distributions_team_time", "team_id", "scheduled_at", "distribution_id"),
    # The due loop's key: ``scheduled_at`` while waiting, else null. PostgreSQL computes it, and it is what the due
    # index holds instead of a predicate on ``status``: a column in an index predicate counts as indexed, so each
    # change of status would be a non-HOT update writing all five indexes (migration 0003_due_at).
    Column("due_at", DateTime(timezone=True), Computed("CASE WHEN status = 'scheduled' THEN scheduled_at END")),
    # The due loop: the next distributions waiting to be due.
    Index("ix_distributions_due", "due_at", postgresql_where=text("due_at IS NOT NULL")),
)

attempts = Table(
    "attempts",
    metadata,
    Column("event_id", String(255), primary_key=True),
    Column("distribution_id", Uuid, ForeignKey("distributions.distribution_id"), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("applied", Boolean, nullable=False),
    Column("error_class", String(64)),
    Column("message", Text),
    Column("http_status", Integer),
    Column("next_attempt_at", DateTime(timezone=True)),
    Column("external_post_id", Text),
    Column("url", Text),
    Index("ix_attempts_distribution", "distribution_id", "occurred_at"),
)

processed_events = Table(
    "processed_events",
    metadata,
    Column("event_id", String(255), primary_key=True),
    Column("event_type", String(255), nullable=False),
    Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)


class Record(Protocol):
    """A row read by column name: SQLAlchemy's ``Row._mapping`` or an asyncpg ``Record``."""

    def __getitem__(self, name: str, /) -> Any: ...


class _FromRow:
    """Build a frozen dataclass from a result row, turning stored strings back into their enums."""

    @classmethod
    def from_row(cls, row: Row[Any]) -> Self:
        return cls.from_record(row._mapping)

    @classmethod
    def from_record(cls, mapping: Record) -> Self:
        values: dict[str, Any] = {}
        for name, enum in _columns(cls):
            value = mapping[name]
            values[name] = enum(value) if enum is not None and value is not None else value
        return cls(**values)


_COLUMNS: dict[type, tuple[tuple[str, type[Enum] | None], ...]] = {}


def _columns(cls: type) -> tuple[tuple[str, type[Enum] | None], ...]:
    """Each field of a row dataclass, with the enum its stored string becomes (resolved once per class)."""
    if cls not in _COLUMNS:
        hints = get_type_hints(cls)
        _COLUMNS[cls] = tuple(
            (f.name, hints[f.name] if isinstance(hints[f.name], type) and issubclass(hints[f.name], Enum) else None)
            for f in fields(cls)
        )
    return _COLUMNS[cls]


@dataclass(frozen=True)
class Content(_FromRow):
    content_id: uuid.UUID
    team_id: uuid.UUID
    title: str
    text: str
    link: str | None
    status: ContentStatus
    approved_at: dt.datetime | None
    archived_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime
    media: tuple[MediaReference, ...] = ()
    """Its media items in posting order, with their alt texts (the snapshot taken from the media service)."""

    @classmethod
    def from_record(cls, mapping: Record) -> Content:
        content = super().from_record(mapping)
        return dataclasses.replace(content, media=media_from_column(mapping["media"]))


def media_from_column(value: Any) -> tuple[MediaReference, ...]:
    """The ``media`` column as read: a list from SQLAlchemy, a JSON string from the bare asyncpg connection."""
    items = json.loads(value) if isinstance(value, str | bytes) else value
    return tuple(MediaReference.model_validate(item) for item in items or ())


def media_column(media: Sequence[MediaReference]) -> list[dict[str, Any]]:
    """What the ``media`` column stores for ``media`` (JSON-ready dicts, in order)."""
    return [item.model_dump(mode="json") for item in media]


@dataclass(frozen=True)
class Distribution(_FromRow):
    distribution_id: uuid.UUID
    team_id: uuid.UUID
    content_id: uuid.UUID
    account_id: uuid.UUID
    platform: Platform
    status: DistributionStatus
    scheduled_at: dt.datetime
    timezone: str | None
    local_time: str | None
    max_attempts: int
    base_delay_seconds: int
    misfire_policy: MisfirePolicy
    misfire_window_seconds: int
    over_length: OverLengthPolicy
    requested_at: dt.datetime | None
    last_attempt: int
    last_outcome_rank: int
    last_outcome_at: dt.datetime | None
    next_attempt_at: dt.datetime | None
    external_post_id: str | None
    post_url: str | None
    published_at: dt.datetime | None
    failure_reason: str | None
    failure_message: str | None
    cancel_reason: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    surface: str | None = None
    """The account's surface when scheduled (``None`` for rows from before media: see :func:`account_surface`)."""

    @property
    def publish_surface(self) -> Surface:
        """Where its ``PublishRequested`` says to publish."""
        return account_surface(self.platform, self.surface)


@dataclass(frozen=True)
class Attempt(_FromRow):
    event_id: str
    attempt: int
    outcome: Outcome
    occurred_at: dt.datetime
    received_at: dt.datetime
    applied: bool
    error_class: str | None
    message: str | None
    http_status: int | None
    next_attempt_at: dt.datetime | None
    external_post_id: str | None
    url: str | None


@dataclass(frozen=True)
class Account(_FromRow):
    account_id: uuid.UUID
    team_id: uuid.UUID
    platform: Platform
    status: AccountStatus
    surface: str | None = None

    @property
    def publish_surface(self) -> Surface:
        return account_surface(self.platform, self.surface)


def account_surface(platform: Platform, stored: str | None) -> Surface:
    """An account's surface: as ``AccountConnected`` said, else the platform's usual one. A Meta account without a
    surface is a Facebook Page (every Meta account was, before Instagram); X and LinkedIn have only ``default``."""
    if stored is not None:
        return Surface(stored)
    return Surface.FACEBOOK_PAGE if platform is Platform.META else Surface.DEFAULT
