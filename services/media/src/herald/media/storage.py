"""What the media service needs from the object store: the part of ``herald.objectstore.ObjectStore`` it calls.

Written as a protocol so the use cases depend on the operations, not on the client's construction; the composition
root passes the real :class:`herald.objectstore.ObjectStore`. Keys: ``teams/<team>/media/<media id>`` for media
items, ``teams/<team>/uploads/<upload id>/...`` for the small chunks of a resumable upload waiting to make a part.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Protocol

MEDIA_KEY = re.compile(r"^teams/([0-9a-f-]{36})/media/([0-9a-f-]{36})$")
UPLOAD_KEY = re.compile(r"^teams/([0-9a-f-]{36})/uploads/([0-9a-f-]{36})/")


def media_key(team_id: uuid.UUID, media_id: uuid.UUID) -> str:
    return f"teams/{team_id}/media/{media_id}"


def upload_prefix(team_id: uuid.UUID, upload_id: uuid.UUID) -> str:
    return f"teams/{team_id}/uploads/{upload_id}/"


class StoredObject(Protocol):
    """An object as listed or headed (``herald.objectstore.ObjectInfo``)."""

    @property
    def key(self) -> str: ...
    @property
    def size(self) -> int: ...
    @property
    def last_modified(self) -> dt.datetime | None: ...


class PendingMultipart(Protocol):
    """An S3 multipart upload in progress, as listed."""

    @property
    def key(self) -> str: ...
    @property
    def upload_id(self) -> str: ...
    @property
    def initiated(self) -> dt.datetime | None: ...


class ObjectStorage(Protocol):
    async def put(self, key: str, data: bytes, content_type: str) -> object: ...
    async def create_multipart(self, key: str, content_type: str) -> str: ...
    async def upload_part(self, key: str, upload_id: str, part_number: int, data: bytes) -> str: ...
    async def complete_multipart(self, key: str, upload_id: str, parts: list[tuple[int, str]]) -> object: ...
    async def abort_multipart(self, key: str, upload_id: str) -> None: ...
    async def list_multipart_uploads(self, prefix: str) -> Sequence[PendingMultipart]: ...
    async def head(self, key: str) -> StoredObject | None: ...
    def stream(self, key: str, chunk_bytes: int) -> AsyncIterator[bytes]: ...
    async def get_range(self, key: str, start: int, end: int) -> bytes: ...
    async def delete(self, key: str) -> None: ...
    def list(self, prefix: str) -> AsyncIterator[StoredObject]: ...
