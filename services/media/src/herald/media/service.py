"""The media library's use cases: direct upload, list, read, resolve for the scheduler, delete guarded by holders.

Every operation is scoped to the caller's team: another team's item is "not found". Bytes go to the object store
under ``teams/<team>/media/<media id>``; the row (and its ``MediaUploaded`` event) is written after the object, so
a crash in between leaves an object without a row, which the cleanup removes after a grace period: never a row
without its object. Deleting is the reverse: the row (and ``MediaDeleted``) goes first, then the object.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import logging
import time
import uuid
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncEngine

from herald.kit.auth import TeamPrincipal
from herald.kit.clock import utc_now
from herald.media import repository
from herald.media.errors import (
    DeletionInProgress,
    InvalidInput,
    MalformedMedia,
    MediaError,
    MediaHeld,
    MediaNotFound,
    TooLarge,
    UnsupportedMedia,
)
from herald.media.events import Cause, EventWriter
from herald.media.holders import HolderLookup
from herald.media.intake import Described, describe
from herald.media.metrics import MediaMetrics
from herald.media.models import MediaItem, MediaStatus
from herald.media.settings import MediaSettings
from herald.media.sniffing import HEAD_BYTES
from herald.media.storage import ObjectStorage, media_key

log = logging.getLogger(__name__)
READ_CHUNK = 1024 * 1024


class SpooledFile(Protocol):
    """An uploaded file the web framework spooled (Starlette's ``UploadFile``)."""

    async def read(self, size: int = -1) -> bytes: ...
    async def seek(self, offset: int) -> None: ...


@dataclass(frozen=True)
class Stored:
    """An item and whether this request created it (``False``: the team already had these bytes)."""

    item: MediaItem
    created: bool


@dataclass(frozen=True)
class Page:
    items: list[MediaItem]
    next_cursor: str | None


@dataclass(frozen=True)
class Resolved:
    items: list[MediaItem]
    missing: list[uuid.UUID]


def refusal_reason(failure: MediaError) -> str:
    """The ``reason`` label of ``herald_media_uploads_refused_total`` for a refusal."""
    match failure:
        case UnsupportedMedia():
            return "unsupported_type"
        case MalformedMedia():
            return "malformed"
        case TooLarge():
            return "too_large"
    return "invalid"


class MediaLibrary:
    """Team-scoped media items over PostgreSQL and the object store."""

    def __init__(
        self,
        engine: AsyncEngine,
        store: ObjectStorage,
        writer: EventWriter,
        metrics: MediaMetrics,
        holders: HolderLookup,
        settings: MediaSettings,
    ) -> None:
        self.engine = engine
        self.store = store
        self.writer = writer
        self.metrics = metrics
        self._holders = holders
        self.settings = settings

    async def upload(self, team: TeamPrincipal, file: SpooledFile, filename: str | None) -> Stored:
        """Take in a whole file: describe it, return the team's existing item for the same bytes, else store it."""
        started = time.monotonic()
        try:
            described = await self._describe_file(file)
        except MediaError as refused:
            self.metrics.refused.labels(refusal_reason(refused)).inc()
            raise
        existing = await self.find_duplicate(team.team_id, described.sha256)
        if existing is not None:
            return existing
        media_id = uuid.uuid4()
        key = media_key(team.team_id, media_id)
        await self._store_file(key, file, described)
        stored = await self.record(team, media_id, key, described, filename, upload_id=None)
        self.metrics.upload_duration.labels("direct").observe(time.monotonic() - started)
        return stored

    async def _describe_file(self, file: SpooledFile) -> Described:
        digest = hashlib.sha256()
        size = 0
        head = b""
        await file.seek(0)
        while chunk := await file.read(READ_CHUNK):
            if len(head) < HEAD_BYTES:
                head += chunk[: HEAD_BYTES - len(head)]
            digest.update(chunk)
            size += len(chunk)
            if size > self.settings.max_bytes:
                raise TooLarge(f"the file is over the largest accepted size ({self.settings.max_bytes} bytes)", size)
        if size == 0:
            raise InvalidInput(("body", "file"), "the file is empty")

        async def read(offset: int, length: int) -> bytes:
            await file.seek(offset)
            return await file.read(length)

        return await describe(self.settings, head, size, digest.hexdigest(), read)

    async def _store_file(self, key: str, file: SpooledFile, described: Described) -> None:
        content_type = described.detected.content_type
        part_bytes = self.settings.part_bytes
        await file.seek(0)
        if described.size_bytes <= part_bytes:
            await self.store.put(key, await file.read(), content_type)
            return
        upload_id = await self.store.create_multipart(key, content_type)
        try:
            parts: list[tuple[int, str]] = []
            while chunk := await file.read(part_bytes):
                number = len(parts) + 1
                parts.append((number, await self.store.upload_part(key, upload_id, number, chunk)))
            await self.store.complete_multipart(key, upload_id, parts)
        except BaseException:
            await quietly(self.store.abort_multipart(key, upload_id), "abort multipart upload")
            raise

    async def find_duplicate(self, team_id: uuid.UUID, sha256: str) -> Stored | None:
        async with self.engine.connect() as conn:
            existing = await repository.find_by_sha256(conn, team_id, sha256)
        if existing is None:
            return None
        self.metrics.deduplicated.inc()
        return Stored(existing, created=False)

    async def record(
        self,
        team: TeamPrincipal,
        media_id: uuid.UUID,
        key: str,
        described: Described,
        filename: str | None,
        *,
        upload_id: uuid.UUID | None,
    ) -> Stored:
        """Write the row and ``MediaUploaded`` for an object now in the store. If a concurrent upload of the same
        bytes won, the object just written is deleted and the winner returned."""
        now = utc_now()
        values: dict[str, Any] = {
            "id": media_id,
            "team_id": team.team_id,
            "storage_key": key,
            "kind": described.kind.value,
            "content_type": described.detected.content_type,
            "size_bytes": described.size_bytes,
            "sha256": described.sha256,
            "width": described.info.width,
            "height": described.info.height,
            "duration_ms": described.info.duration_ms,
            "filename": filename,
            "status": MediaStatus.READY.value,
            "created_at": now,
            "status_changed_at": now,
        }
        async with self.engine.begin() as conn:
            item = await repository.insert_unless_duplicate(conn, values)
            if item is not None:
                await self.writer.uploaded(conn, item, Cause(team.actor), upload_id)
            if upload_id is not None:  # the upload is over either way: its bytes are this item or its twin
                await repository.delete_upload(conn, upload_id)
        if item is None:
            await quietly(self.store.delete(key), "delete a duplicate object")
            twin = await self.find_duplicate(team.team_id, described.sha256)
            if twin is None:  # the twin was deleted meanwhile: nothing to return but a retry
                raise MediaNotFound(media_id)
            return twin
        self.metrics.upload_bytes.labels(item.kind.value).inc(item.size_bytes)
        return Stored(item, created=True)

    async def get(self, team: TeamPrincipal, media_id: uuid.UUID) -> MediaItem:
        async with self.engine.connect() as conn:
            item = await repository.get(conn, team.team_id, media_id)
        if item is None:
            raise MediaNotFound(media_id)
        return item

    async def list(self, team: TeamPrincipal, cursor: str | None, limit: int) -> Page:
        """One page, newest first; pass ``next_cursor`` back for the next."""
        after = decode_cursor(cursor) if cursor else None
        async with self.engine.connect() as conn:
            items = await repository.page(conn, team.team_id, after, limit + 1)
        if len(items) <= limit:
            return Page(items, None)
        last = items[limit - 1]
        return Page(items[:limit], encode_cursor(last.created_at, last.id))

    async def resolve(self, team_id: uuid.UUID, media_ids: Sequence[uuid.UUID]) -> Resolved:
        """The team's ready items among ``media_ids``, in the order asked; the others are ``missing``."""
        async with self.engine.connect() as conn:
            found = {item.id: item for item in await repository.ready_items(conn, team_id, list(set(media_ids)))}
        ordered = list(dict.fromkeys(media_ids))
        return Resolved([found[i] for i in ordered if i in found], [i for i in ordered if i not in found])

    async def delete(self, team: TeamPrincipal, media_id: uuid.UUID) -> MediaItem:
        """Delete an item no distribution holds: mark it ``deleting`` (resolve stops returning it), ask the
        scheduler, then delete the row (with ``MediaDeleted``) and the object, or unmark it and refuse."""
        now = utc_now()
        async with self.engine.begin() as conn:
            item = await repository.set_status(
                conn, team.team_id, media_id, from_status=MediaStatus.READY, to_status=MediaStatus.DELETING, now=now
            )
            if item is None:
                existing = await repository.get(conn, team.team_id, media_id)
        if item is None:
            if existing is None:
                raise MediaNotFound(media_id)
            raise DeletionInProgress(f"media {media_id} is already being deleted")
        try:
            holders = await self._holders.holders(team.team_id, media_id)
        except BaseException:
            await self._unmark(team.team_id, media_id)
            raise
        if holders:
            await self._unmark(team.team_id, media_id)
            raise MediaHeld(media_id, holders)
        async with self.engine.begin() as conn:
            if await repository.delete_item(conn, media_id):
                await self.writer.deleted(conn, item, Cause(team.actor), "deleted by user")
        await quietly(self.store.delete(item.storage_key), "delete a media object")
        return item

    async def _unmark(self, team_id: uuid.UUID, media_id: uuid.UUID) -> None:
        async with self.engine.begin() as conn:
            await repository.set_status(
                conn, team_id, media_id, from_status=MediaStatus.DELETING, to_status=MediaStatus.READY, now=utc_now()
            )


async def quietly(operation: Awaitable[object], what: str) -> None:
    """Best effort: what fails here is left for the cleanup (an orphaned object, an unfinished upload)."""
    try:
        await operation
    except Exception:
        log.warning("object store call failed; the cleanup will retry", extra={"operation": what}, exc_info=True)


def encode_cursor(created_at: dt.datetime, media_id: uuid.UUID) -> str:
    raw = f"{created_at.isoformat()}|{media_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[dt.datetime, uuid.UUID]:
    invalid = InvalidInput(("query", "cursor"), "invalid cursor: pass next_cursor from the previous page")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        when, _, media_id = raw.partition("|")
        created_at = dt.datetime.fromisoformat(when)
        if created_at.tzinfo is None:
            raise invalid
        return created_at, uuid.UUID(media_id)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise invalid from None
