"""SQL for media items and resumable uploads (SQLAlchemy Core on the caller's connection and transaction)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select, text, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from herald.media.models import MediaItem, MediaStatus, PendingChunk, Upload, media, uploads


async def get(conn: AsyncConnection, team_id: uuid.UUID, media_id: uuid.UUID) -> MediaItem | None:
    query = select(media).where(media.c.id == media_id, media.c.team_id == team_id)
    row = (await conn.execute(query)).mappings().first()
    return MediaItem.from_mapping(row) if row else None


async def find_by_sha256(conn: AsyncConnection, team_id: uuid.UUID, sha256: str) -> MediaItem | None:
    query = select(media).where(media.c.team_id == team_id, media.c.sha256 == sha256)
    row = (await conn.execute(query)).mappings().first()
    return MediaItem.from_mapping(row) if row else None


async def insert_unless_duplicate(conn: AsyncConnection, values: Mapping[str, Any]) -> MediaItem | None:
    """Insert an item; ``None`` if the team already has one with the same SHA-256 (a concurrent twin won)."""
    statement = (
        pg_insert(media).values(**values).on_conflict_do_nothing(index_elements=["team_id", "sha256"]).returning(media)
    )
    result = await conn.execute(statement)
    row = result.mappings().first()
    return MediaItem.from_mapping(row) if row else None


async def page(
    conn: AsyncConnection, team_id: uuid.UUID, after: tuple[dt.datetime, uuid.UUID] | None, limit: int
) -> list[MediaItem]:
    """The team's items, newest first, after the cursor position ``(created_at, id)``."""
    query = select(media).where(media.c.team_id == team_id)
    if after is not None:
        query = query.where(tuple_(media.c.created_at, media.c.id) < tuple_(*after))
    query = query.order_by(media.c.created_at.desc(), media.c.id.desc()).limit(limit)
    return [MediaItem.from_mapping(r) for r in (await conn.execute(query)).mappings()]


async def ready_items(conn: AsyncConnection, team_id: uuid.UUID, ids: Sequence[uuid.UUID]) -> list[MediaItem]:
    query = select(media).where(
        media.c.team_id == team_id, media.c.id.in_(ids), media.c.status == MediaStatus.READY.value
    )
    return [MediaItem.from_mapping(r) for r in (await conn.execute(query)).mappings()]


async def set_status(
    conn: AsyncConnection,
    team_id: uuid.UUID,
    media_id: uuid.UUID,
    *,
    from_status: MediaStatus,
    to_status: MediaStatus,
    now: dt.datetime,
) -> MediaItem | None:
    """Move an item from one status to another; ``None`` if it is not (any more) in ``from_status``."""
    statement = (
        update(media)
        .where(media.c.id == media_id, media.c.team_id == team_id, media.c.status == from_status.value)
        .values(status=to_status.value, status_changed_at=now)
        .returning(media)
    )
    row = (await conn.execute(statement)).mappings().first()
    return MediaItem.from_mapping(row) if row else None


async def delete_item(conn: AsyncConnection, media_id: uuid.UUID) -> bool:
    result = await conn.execute(
        media.delete().where(media.c.id == media_id, media.c.status == MediaStatus.DELETING.value)
    )
    return bool(result.rowcount)


async def restore_stale_deleting(conn: AsyncConnection, before: dt.datetime, now: dt.datetime) -> int:
    """Items left ``deleting`` since before ``before`` (a process died mid-delete) are ``ready`` again."""
    result = await conn.execute(
        update(media)
        .where(media.c.status == MediaStatus.DELETING.value, media.c.status_changed_at < before)
        .values(status=MediaStatus.READY.value, status_changed_at=now)
    )
    return int(result.rowcount)


async def existing_keys(conn: AsyncConnection, keys: Sequence[str]) -> set[str]:
    """Which of ``keys`` an item or an upload in progress refers to."""
    if not keys:
        return set()
    found = await conn.execute(select(media.c.storage_key).where(media.c.storage_key.in_(keys)))
    pending = await conn.execute(select(uploads.c.storage_key).where(uploads.c.storage_key.in_(keys)))
    return {*found.scalars(), *pending.scalars()}


async def existing_uploads(conn: AsyncConnection, ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    if not ids:
        return set()
    return set((await conn.execute(select(uploads.c.id).where(uploads.c.id.in_(ids)))).scalars())


async def insert_upload(conn: AsyncConnection, values: Mapping[str, Any]) -> Upload:
    row = (await conn.execute(uploads.insert().values(**values).returning(uploads))).mappings().one()
    return Upload.from_mapping(row)


async def get_upload(
    conn: AsyncConnection, team_id: uuid.UUID, upload_id: uuid.UUID, *, lock: bool = False
) -> Upload | None:
    """One upload of the team; ``lock`` takes its row lock without waiting (raises if another request holds it)."""
    query = select(uploads).where(uploads.c.id == upload_id, uploads.c.team_id == team_id)
    if lock:
        query = query.with_for_update(nowait=True)
    row = (await conn.execute(query)).mappings().first()
    return Upload.from_mapping(row) if row else None


async def set_multipart(conn: AsyncConnection, upload_id: uuid.UUID, multipart_id: str) -> None:
    await conn.execute(update(uploads).where(uploads.c.id == upload_id).values(multipart_id=multipart_id))


async def save_progress(
    conn: AsyncConnection,
    upload_id: uuid.UUID,
    *,
    received_bytes: int,
    parts: Sequence[tuple[int, str]],
    pending: Sequence[PendingChunk],
    now: dt.datetime,
) -> None:
    await conn.execute(
        update(uploads)
        .where(uploads.c.id == upload_id)
        .values(
            received_bytes=received_bytes,
            parts=[list(part) for part in parts],
            pending=[[chunk.offset, chunk.length, chunk.key] for chunk in pending],
            updated_at=now,
        )
    )


async def delete_upload(conn: AsyncConnection, upload_id: uuid.UUID) -> None:
    await conn.execute(uploads.delete().where(uploads.c.id == upload_id))


async def claim_abandoned(conn: AsyncConnection, before: dt.datetime, limit: int) -> list[Upload]:
    """Uploads idle since before ``before``, locked (skipping those another replica or a request holds)."""
    query = (
        select(uploads)
        .where(uploads.c.updated_at < before)
        .order_by(uploads.c.updated_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return [Upload.from_mapping(r) for r in (await conn.execute(query)).mappings()]


async def try_lock(conn: AsyncConnection, name: str) -> bool:
    """A transaction-scoped advisory lock, or ``False`` if another session holds it (another replica's sweep)."""
    result = await conn.execute(text("SELECT pg_try_advisory_xact_lock(hashtextextended(:k, 0))"), {"k": name})
    return bool(result.scalar_one())


async def multipart_known(conn: AsyncConnection, multipart_id: str) -> bool:
    """Whether an upload in progress owns this S3 multipart upload."""
    query = select(uploads.c.id).where(uploads.c.multipart_id == multipart_id).limit(1)
    return (await conn.execute(query)).first() is not None
