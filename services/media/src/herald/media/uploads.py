"""Resumable uploads: declare the size, append chunks at the offset reached, complete with the last byte.

Backed by an S3 multipart upload at the item's final key, created with the first chunk (when the bytes say what
the file is, so an unsupported type or an over-limit size is refused before anything big is sent). S3 wants every
part but the last to be at least 5 MiB, so chunks smaller than ``part_bytes`` wait as small objects under
``teams/<team>/uploads/<upload id>/`` (in the object store, not in memory or the database) until together with the
next chunk they fill a part. Each PUT runs under the upload's row lock (a second concurrent PUT gets 409), and a
chunk either is recorded entirely (offset advanced) or not at all: an interrupted PUT is simply sent again from
the offset ``HEAD`` reports.

The last chunk completes the multipart upload; the object is then read back once to compute its SHA-256 (checked
against the declared one) and its metadata, deduplicated within the team, and recorded as an item.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from dataclasses import dataclass

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from herald.contracts.media import MediaKind
from herald.kit.auth import TeamPrincipal
from herald.kit.clock import utc_now
from herald.media import repository
from herald.media.errors import InvalidInput, MediaError, OffsetMismatch, TooLarge, UploadBusy, UploadNotFound
from herald.media.intake import check_size, describe, detect
from herald.media.models import PendingChunk, Upload
from herald.media.ranges import ChunkRange
from herald.media.service import MediaLibrary, Stored, quietly, refusal_reason
from herald.media.sniffing import HEAD_BYTES
from herald.media.storage import media_key, upload_prefix

LOCK_NOT_AVAILABLE = "55P03"
"""PostgreSQL's SQLSTATE for ``FOR UPDATE NOWAIT`` on a row another transaction holds."""
MIN_FIRST_CHUNK = 16
"""The first chunk must carry enough bytes to tell the type (or be the whole file)."""
STREAM_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Progress:
    """Where an upload stands after a chunk: still open, or completed into an item."""

    upload: Upload
    stored: Stored | None = None


class ResumableUploads:
    def __init__(self, library: MediaLibrary) -> None:
        self._library = library
        self._store = library.store
        self._settings = library.settings
        self._engine: AsyncEngine = library.engine

    async def create(self, team: TeamPrincipal, size_bytes: int, sha256: str | None, filename: str | None) -> Upload:
        if size_bytes > self._settings.max_bytes:
            self._library.metrics.refused.labels("too_large").inc()
            raise TooLarge(
                f"{size_bytes} bytes is over the largest accepted size ({self._settings.max_bytes} bytes)",
                self._settings.max_bytes,
            )
        now = utc_now()
        upload_id, media_id = uuid.uuid4(), uuid.uuid4()
        async with self._engine.begin() as conn:
            return await repository.insert_upload(
                conn,
                {
                    "id": upload_id,
                    "team_id": team.team_id,
                    "media_id": media_id,
                    "storage_key": media_key(team.team_id, media_id),
                    "multipart_id": None,
                    "size_bytes": size_bytes,
                    "sha256": sha256,
                    "filename": filename,
                    "actor": team.actor,
                    "received_bytes": 0,
                    "parts": [],
                    "pending": [],
                    "created_at": now,
                    "updated_at": now,
                },
            )

    async def get(self, team: TeamPrincipal, upload_id: uuid.UUID) -> Upload:
        async with self._engine.connect() as conn:
            upload = await repository.get_upload(conn, team.team_id, upload_id)
        if upload is None:
            raise UploadNotFound(upload_id)
        return upload

    async def append(self, team: TeamPrincipal, upload_id: uuid.UUID, where: ChunkRange, body: bytes) -> Progress:
        """Write one chunk at ``where`` (checked by :func:`~herald.media.ranges.chunk_range`)."""
        started = time.monotonic()
        try:
            async with self._engine.begin() as conn:
                try:
                    upload = await repository.get_upload(conn, team.team_id, upload_id, lock=True)
                except DBAPIError as busy:
                    if getattr(busy.orig, "sqlstate", None) == LOCK_NOT_AVAILABLE:
                        raise UploadBusy(f"another chunk of upload {upload_id} is being written") from None
                    raise
                if upload is None:
                    raise UploadNotFound(upload_id)
                if where.total != upload.size_bytes:
                    raise InvalidInput(("header", "Content-Range"), f"the upload's size is {upload.size_bytes}")
                if where.start != upload.received_bytes:
                    raise OffsetMismatch(upload.received_bytes, where.start)
                multipart_id = upload.multipart_id or await self._begin(conn, upload, body)
                parts, pending = list(upload.parts), list(upload.pending)
                drained: list[PendingChunk] = []
                if not where.final and upload.pending_bytes + len(body) < self._settings.part_bytes:
                    key = f"{upload_prefix(upload.team_id, upload.id)}{where.start:015d}"
                    await self._store.put(key, body, "application/octet-stream")
                    pending.append(PendingChunk(where.start, len(body), key))
                else:
                    data = b"".join([*[await self._read(chunk) for chunk in pending], body])
                    number = len(parts) + 1
                    parts.append(
                        (number, await self._store.upload_part(upload.storage_key, multipart_id, number, data))
                    )
                    drained, pending = pending, []
                await repository.save_progress(
                    conn, upload.id, received_bytes=where.end + 1, parts=parts, pending=pending, now=utc_now()
                )
                if where.final:
                    await self._store.complete_multipart(upload.storage_key, multipart_id, parts)
        except MediaError as refused:
            if not isinstance(refused, (OffsetMismatch, UploadBusy, UploadNotFound)):
                self._library.metrics.refused.labels(refusal_reason(refused)).inc()
            raise
        for chunk in drained:
            await quietly(self._store.delete(chunk.key), "delete a buffered chunk")
        current = await self.get(team, upload_id)
        if not where.final:
            return Progress(current)
        stored = await self._complete(team, current)
        self._library.metrics.upload_duration.labels("resumable").observe(time.monotonic() - started)
        return Progress(current, stored)

    async def _begin(self, conn: AsyncConnection, upload: Upload, first: bytes) -> str:
        """The first chunk: refuse a type or size we will not take, then start the multipart upload."""
        if len(first) < min(MIN_FIRST_CHUNK, upload.size_bytes):
            raise InvalidInput(("body",), f"the first chunk must carry at least {MIN_FIRST_CHUNK} bytes")
        detected = detect(first[:HEAD_BYTES])
        check_size(self._settings, detected.kind, upload.size_bytes)
        multipart_id = await self._store.create_multipart(upload.storage_key, detected.content_type)
        await repository.set_multipart(conn, upload.id, multipart_id)
        return multipart_id

    async def _read(self, chunk: PendingChunk) -> bytes:
        data = await self._store.get_range(chunk.key, 0, chunk.length - 1)
        if len(data) != chunk.length:
            raise RuntimeError(f"buffered chunk {chunk.key} has {len(data)} bytes, expected {chunk.length}")
        return data

    async def _complete(self, team: TeamPrincipal, upload: Upload) -> Stored:
        """Hash and describe the completed object, then record it (or return the team's twin)."""
        key = upload.storage_key
        digest = hashlib.sha256()
        head = b""
        whole: list[bytes] = []
        keep_whole = upload.size_bytes <= max(
            self._settings.limit(MediaKind.IMAGE), self._settings.limit(MediaKind.GIF)
        )
        async for chunk in self._store.stream(key, STREAM_CHUNK):
            digest.update(chunk)
            if len(head) < HEAD_BYTES:
                head += chunk[: HEAD_BYTES - len(head)]
            if keep_whole:
                whole.append(chunk)
        sha256 = digest.hexdigest()
        contents = b"".join(whole)

        async def read(offset: int, length: int) -> bytes:
            if keep_whole:
                return contents[offset : offset + length]
            return await self._store.get_range(key, offset, min(offset + length, upload.size_bytes) - 1)

        try:
            if upload.sha256 is not None and upload.sha256 != sha256:
                self._library.metrics.refused.labels("checksum_mismatch").inc()
                raise InvalidInput(
                    ("body", "sha256"), f"the bytes received have SHA-256 {sha256}, not the declared {upload.sha256}"
                )
            described = await describe(self._settings, head, upload.size_bytes, sha256, read)
        except MediaError as refused:
            if not isinstance(refused, InvalidInput):
                self._library.metrics.refused.labels(refusal_reason(refused)).inc()
            await self._discard(upload)
            raise
        twin = await self._library.find_duplicate(team.team_id, sha256)
        if twin is not None:
            await self._discard(upload)
            return twin
        return await self._library.record(team, upload.media_id, key, described, upload.filename, upload_id=upload.id)

    async def _discard(self, upload: Upload) -> None:
        async with self._engine.begin() as conn:
            await repository.delete_upload(conn, upload.id)
        await quietly(self._store.delete(upload.storage_key), "delete a refused upload")
