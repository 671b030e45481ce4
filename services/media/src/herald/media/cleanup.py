"""The scheduled cleanup: abandoned resumable uploads, orphaned objects, items stuck in ``deleting``.

Safe with several replicas: abandoned uploads are claimed with ``FOR UPDATE SKIP LOCKED`` (an upload a request is
writing is locked too, so it is never swept mid-chunk), and the bucket scan runs under a transaction-scoped advisory
lock only one replica gets per round. Every removal writes ``MediaCleanedUp`` in the transaction that records it.

Orphans are objects under ``teams/<team>/media/`` no item or upload refers to, chunk objects under
``teams/<team>/uploads/<upload>/`` whose upload is gone, and S3 multipart uploads no upload row knows; each only
once older than the grace period, so an upload completing right now (object written, row not yet) is left alone.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from herald.contracts.media import CleanupCategory
from herald.kit.clock import utc_now
from herald.kit.pg_notify import wait_first
from herald.media import repository
from herald.media.events import EventWriter
from herald.media.metrics import MediaMetrics
from herald.media.models import Upload
from herald.media.settings import MediaSettings
from herald.media.storage import MEDIA_KEY, UPLOAD_KEY, ObjectStorage, StoredObject, upload_prefix
from herald.objectstore import ObjectStoreError

log = logging.getLogger(__name__)
ORPHAN_LOCK = "media:cleanup:orphans"
BATCH = 200


@dataclass
class CleanupReport:
    """What one round removed."""

    abandoned_uploads: int = 0
    orphaned_objects: int = 0
    orphaned_multiparts: int = 0
    restored: int = 0
    scanned: bool = False
    """Whether this replica got the bucket scan this round."""


class Cleanup:
    def __init__(
        self,
        engine: AsyncEngine,
        store: ObjectStorage,
        writer: EventWriter,
        metrics: MediaMetrics,
        settings: MediaSettings,
    ) -> None:
        self._engine = engine
        self._store = store
        self._writer = writer
        self._metrics = metrics
        self._settings = settings

    async def run(self, stop: asyncio.Event) -> None:
        """A background loop: one round every ``cleanup_interval_seconds`` until ``stop``."""
        while not stop.is_set():
            try:
                report = await self.sweep()
                if report.abandoned_uploads or report.orphaned_objects or report.orphaned_multiparts:
                    log.info("media cleanup", extra={"report": report.__dict__})
            except Exception as error:
                # The store away (starting, restarting): nothing is lost by waiting for the next round.
                if isinstance(error, ObjectStoreError) and error.is_outage:
                    log.warning("media cleanup round skipped: %s", error)
                else:
                    log.exception("media cleanup round failed")
            await wait_first((stop,), self._settings.cleanup_interval_seconds)

    async def sweep(self, now: dt.datetime | None = None) -> CleanupReport:
        now = now or utc_now()
        report = CleanupReport()
        async with self._engine.begin() as conn:
            before = now - dt.timedelta(seconds=self._settings.stale_deleting_seconds)
            report.restored = await repository.restore_stale_deleting(conn, before, now)
        report.abandoned_uploads = await self._abandoned(now)
        await self._orphans(now, report)
        return report

    async def _abandoned(self, now: dt.datetime) -> int:
        before = now - dt.timedelta(seconds=self._settings.abandoned_upload_seconds)
        removed = 0
        while True:
            async with self._engine.begin() as conn:
                claimed = await repository.claim_abandoned(conn, before, BATCH)
                for upload in claimed:
                    await self._remove_upload(conn, upload)
            removed += len(claimed)
            if len(claimed) < BATCH:
                return removed

    async def _remove_upload(self, conn: AsyncConnection, upload: Upload) -> None:
        if upload.multipart_id is not None:
            await self._store.abort_multipart(upload.storage_key, upload.multipart_id)
        prefix = upload_prefix(upload.team_id, upload.id)
        async for stored in self._store.list(prefix):
            await self._store.delete(stored.key)
        await repository.delete_upload(conn, upload.id)
        await self._writer.cleaned_up(
            conn,
            upload.team_id,
            CleanupCategory.ABANDONED_UPLOAD,
            str(upload.id),
            upload_id=upload.id,
            storage_key=upload.storage_key,
            bytes_freed=upload.received_bytes,
            last_activity_at=upload.updated_at,
        )
        self._metrics.cleanup.labels("abandoned_upload").inc()

    async def _orphans(self, now: dt.datetime, report: CleanupReport) -> None:
        cutoff = now - dt.timedelta(seconds=self._settings.orphan_grace_seconds)
        async with self._engine.begin() as conn:
            if not await repository.try_lock(conn, ORPHAN_LOCK):
                return
            report.scanned = True
            batch: list[StoredObject] = []
            async for stored in self._store.list("teams/"):
                if stored.last_modified is not None and stored.last_modified < cutoff:
                    batch.append(stored)
                if len(batch) >= BATCH:
                    report.orphaned_objects += await self._orphan_batch(conn, batch)
                    batch = []
            report.orphaned_objects += await self._orphan_batch(conn, batch)
            report.orphaned_multiparts = await self._orphan_multiparts(conn, cutoff)

    async def _orphan_batch(self, conn: AsyncConnection, batch: list[StoredObject]) -> int:
        media_objects = [s for s in batch if MEDIA_KEY.match(s.key)]
        chunk_objects = {s.key: m for s in batch if (m := UPLOAD_KEY.match(s.key))}
        known_keys = await repository.existing_keys(conn, [s.key for s in media_objects])
        live_uploads = await repository.existing_uploads(conn, [uuid.UUID(m.group(2)) for m in chunk_objects.values()])
        removed = 0
        for stored in batch:
            if (match := MEDIA_KEY.match(stored.key)) is not None:
                if stored.key in known_keys:
                    continue
            elif (match := UPLOAD_KEY.match(stored.key)) is not None:
                if uuid.UUID(match.group(2)) in live_uploads:
                    continue
            else:
                continue  # not a key this service writes: not ours to judge
            await self._store.delete(stored.key)
            await self._writer.cleaned_up(
                conn,
                uuid.UUID(match.group(1)),
                CleanupCategory.ORPHANED_OBJECT,
                stored.key,
                storage_key=stored.key,
                bytes_freed=stored.size,
                last_activity_at=stored.last_modified,
            )
            self._metrics.cleanup.labels("orphaned_object").inc()
            removed += 1
        return removed

    async def _orphan_multiparts(self, conn: AsyncConnection, cutoff: dt.datetime) -> int:
        removed = 0
        for pending in await self._store.list_multipart_uploads("teams/"):
            match = MEDIA_KEY.match(pending.key)
            if match is None or pending.initiated is None or pending.initiated >= cutoff:
                continue
            if await repository.multipart_known(conn, pending.upload_id):
                continue
            await self._store.abort_multipart(pending.key, pending.upload_id)
            await self._writer.cleaned_up(
                conn,
                uuid.UUID(match.group(1)),
                CleanupCategory.ABANDONED_UPLOAD,
                pending.upload_id[:1024],
                storage_key=pending.key,
                last_activity_at=pending.initiated,
            )
            self._metrics.cleanup.labels("orphaned_multipart").inc()
            removed += 1
        return removed
