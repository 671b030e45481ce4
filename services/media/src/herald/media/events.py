"""Media events, written to the outbox in the same transaction as the change they report.

``MediaUploaded`` (a new item), ``MediaDeleted`` and ``MediaCleanedUp`` (what the scheduled cleanup removed). The
kit's :class:`~herald.kit.outbox.OutboxRelay` publishes them after commit. Events carry keys, never bytes or URLs.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from herald.contracts.base import SYSTEM_ACTOR, Event
from herald.contracts.envelope import AmqpEnvelope
from herald.contracts.media import CleanupCategory, MediaCleanedUp, MediaDeleted, MediaUploaded
from herald.kit import outbox
from herald.kit.logging import correlation_id
from herald.media.models import MediaItem
from herald.media.models import outbox as outbox_table

Envelope = Callable[[Event], AmqpEnvelope]


@dataclass(frozen=True)
class Cause:
    """Who caused a change and which request it belongs to (the events' ``actor`` and ``correlation_id``)."""

    actor: str = SYSTEM_ACTOR
    correlation_id: str | None = None

    def correlation(self) -> str:
        return self.correlation_id or correlation_id.get() or str(uuid.uuid4())


class EventWriter:
    """Builds the media events and adds them to the outbox on the caller's connection."""

    def __init__(self, envelope: Envelope) -> None:
        self._envelope = envelope

    async def _write(self, conn: AsyncConnection, event_class: type[Event], values: Mapping[str, Any]) -> None:
        event = event_class.model_validate(values)
        await outbox.add(conn, self._envelope(event), table=outbox_table)

    async def uploaded(
        self, conn: AsyncConnection, item: MediaItem, cause: Cause, upload_id: uuid.UUID | None = None
    ) -> None:
        await self._write(
            conn,
            MediaUploaded,
            {
                **_item(item, cause),
                "width": item.width,
                "height": item.height,
                "duration_ms": item.duration_ms,
                "filename": item.filename,
                "upload_id": upload_id,
            },
        )

    async def deleted(self, conn: AsyncConnection, item: MediaItem, cause: Cause, reason: str) -> None:
        await self._write(conn, MediaDeleted, {**_item(item, cause), "reason": reason})

    async def cleaned_up(
        self,
        conn: AsyncConnection,
        team_id: uuid.UUID,
        category: CleanupCategory,
        target: str,
        *,
        upload_id: uuid.UUID | None = None,
        storage_key: str | None = None,
        bytes_freed: int = 0,
        last_activity_at: dt.datetime | None = None,
    ) -> None:
        await self._write(
            conn,
            MediaCleanedUp,
            {
                **_common(team_id, Cause()),
                "category": category,
                "target": target,
                "upload_id": upload_id,
                "storage_key": storage_key,
                "bytes_freed": bytes_freed,
                "last_activity_at": last_activity_at,
            },
        )


def _common(team_id: uuid.UUID, cause: Cause) -> dict[str, Any]:
    return {
        "correlation_id": cause.correlation(),
        "actor": cause.actor,
        "occurred_at": dt.datetime.now(dt.UTC),
        "team_id": team_id,
    }


def _item(item: MediaItem, cause: Cause) -> dict[str, Any]:
    return {
        **_common(item.team_id, cause),
        "media_id": item.id,
        "storage_key": item.storage_key,
        "kind": item.kind,
        "content_type": item.content_type,
        "size_bytes": item.size_bytes,
        "sha256": item.sha256,
    }
