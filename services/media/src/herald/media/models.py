"""The media schema (SQLAlchemy Core) and the rows read from it.

``media``: one row per media item of a team: where its bytes are (``storage_key``), what they are (detected kind
and MIME type, size, SHA-256, dimensions, duration) and its status: ``ready``, or ``deleting`` while a delete asks
the scheduler whether a distribution holds it (resolve treats it as missing then). ``(team_id, sha256)`` is unique:
the same bytes uploaded twice by one team are one item.

``uploads``: one row per resumable upload in progress: the declared size (and optional SHA-256), the offset
reached, the S3 multipart upload with the parts written, and the chunks waiting in the object store to fill the
next part. The row goes when the upload completes or is abandoned (cleanup).

``outbox`` is the kit's transactional outbox (:mod:`herald.kit.outbox`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    Uuid,
)
from sqlalchemy.dialects.postgresql import JSONB

from herald.contracts.media import MediaKind, MediaReference
from herald.kit.outbox import define_outbox

metadata = MetaData()
outbox = define_outbox(metadata)


class MediaStatus(StrEnum):
    READY = "ready"
    DELETING = "deleting"


media = Table(
    "media",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("team_id", Uuid, nullable=False),
    Column("storage_key", String(1024), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),
    Column("content_type", String(100), nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("width", Integer),
    Column("height", Integer),
    Column("duration_ms", BigInteger),
    Column("filename", String(255)),
    Column("status", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("status_changed_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("status IN ('ready', 'deleting')", name="ck_media_status"),
    Index("uq_media_team_sha256", "team_id", "sha256", unique=True),
    Index("ix_media_team_created", "team_id", "created_at", "id"),
)

uploads = Table(
    "uploads",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("team_id", Uuid, nullable=False),
    Column("media_id", Uuid, nullable=False),
    Column("storage_key", String(1024), nullable=False),
    Column("multipart_id", Text),
    Column("size_bytes", BigInteger, nullable=False),
    Column("sha256", String(64)),
    Column("filename", String(255)),
    Column("actor", String(80), nullable=False),
    Column("received_bytes", BigInteger, nullable=False),
    Column("parts", JSONB, nullable=False),
    Column("pending", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_uploads_updated", "updated_at"),
)


@dataclass(frozen=True)
class MediaItem:
    """One ``media`` row."""

    id: uuid.UUID
    team_id: uuid.UUID
    storage_key: str
    kind: MediaKind
    content_type: str
    size_bytes: int
    sha256: str
    width: int | None
    height: int | None
    duration_ms: int | None
    filename: str | None
    status: MediaStatus
    created_at: dt.datetime
    status_changed_at: dt.datetime

    @classmethod
    def from_mapping(cls, row: Any) -> MediaItem:
        values = dict(row)
        values["kind"] = MediaKind(values["kind"])
        values["status"] = MediaStatus(values["status"])
        return cls(**values)

    def reference(self) -> MediaReference:
        """The reference events and the scheduler carry (no alt text: that belongs to the content)."""
        return MediaReference(
            media_id=self.id,
            storage_key=self.storage_key,
            kind=self.kind,
            content_type=self.content_type,
            size_bytes=self.size_bytes,
            sha256=self.sha256,
            width=self.width,
            height=self.height,
            duration_ms=self.duration_ms,
        )


@dataclass(frozen=True)
class PendingChunk:
    """A chunk received but not yet part of an S3 part: where it waits, and where it sits in the file."""

    offset: int
    length: int
    key: str


@dataclass(frozen=True)
class Upload:
    """One ``uploads`` row."""

    id: uuid.UUID
    team_id: uuid.UUID
    media_id: uuid.UUID
    storage_key: str
    multipart_id: str | None
    """The S3 multipart upload, created with the first chunk (when the type is known)."""
    size_bytes: int
    sha256: str | None
    filename: str | None
    actor: str
    received_bytes: int
    parts: tuple[tuple[int, str], ...]
    pending: tuple[PendingChunk, ...]
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def from_mapping(cls, row: Any) -> Upload:
        values = dict(row)
        values["parts"] = tuple((int(n), str(etag)) for n, etag in values["parts"])
        values["pending"] = tuple(PendingChunk(int(o), int(n), str(k)) for o, n, k in values["pending"])
        return cls(**values)

    @property
    def pending_bytes(self) -> int:
        return sum(chunk.length for chunk in self.pending)
