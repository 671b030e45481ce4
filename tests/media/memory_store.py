"""An in-memory stand-in for the object store, with S3's multipart rules (parts >= 5 MiB but the last).

Only for the media tests until ``herald.objectstore`` and its SeaweedFS fixture are available; it enforces the rules
the service must respect so a violation fails here as it would against S3.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

MIN_PART = 5 * 1024 * 1024


@dataclass(frozen=True)
class Info:
    key: str
    size: int
    last_modified: dt.datetime
    content_type: str = "application/octet-stream"


@dataclass(frozen=True)
class Multipart:
    key: str
    upload_id: str
    initiated: dt.datetime


@dataclass
class _Open:
    key: str
    content_type: str
    initiated: dt.datetime
    parts: dict[int, tuple[str, bytes]] = field(default_factory=dict)


class MemoryStore:
    def __init__(self) -> None:
        self.objects: dict[str, tuple[bytes, Info]] = {}
        self.multiparts: dict[str, _Open] = {}

    async def ensure_bucket(self) -> None:
        return None

    async def bucket_exists(self) -> bool:
        return True

    async def aclose(self) -> None:
        return None

    def _now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        self.objects[key] = (data, Info(key, len(data), self._now(), content_type))

    async def create_multipart(self, key: str, content_type: str) -> str:
        upload_id = uuid.uuid4().hex
        self.multiparts[upload_id] = _Open(key, content_type, self._now())
        return upload_id

    async def upload_part(self, key: str, upload_id: str, part_number: int, data: bytes) -> str:
        upload = self.multiparts[upload_id]
        assert upload.key == key
        etag = hashlib.md5(data).hexdigest()
        upload.parts[part_number] = (etag, data)
        return etag

    async def complete_multipart(self, key: str, upload_id: str, parts: list[tuple[int, str]]) -> None:
        upload = self.multiparts.pop(upload_id)
        chunks = []
        for index, (number, etag) in enumerate(parts):
            stored_etag, data = upload.parts[number]
            assert stored_etag == etag, "ETag mismatch"
            if index < len(parts) - 1 and len(data) < MIN_PART:
                raise AssertionError(f"EntityTooSmall: part {number} has {len(data)} bytes")
            chunks.append(data)
        await self.put(key, b"".join(chunks), upload.content_type)

    async def abort_multipart(self, key: str, upload_id: str) -> None:
        self.multiparts.pop(upload_id, None)

    async def list_multipart_uploads(self, prefix: str) -> list[Multipart]:
        return [Multipart(u.key, i, u.initiated) for i, u in self.multiparts.items() if u.key.startswith(prefix)]

    async def head(self, key: str) -> Info | None:
        found = self.objects.get(key)
        return found[1] if found else None

    async def stream(self, key: str, chunk_bytes: int) -> AsyncIterator[bytes]:
        data = self.objects[key][0]
        for start in range(0, len(data), chunk_bytes):
            yield data[start : start + chunk_bytes]

    async def get_range(self, key: str, start: int, end: int) -> bytes:
        return self.objects[key][0][start : end + 1]

    async def delete(self, key: str) -> None:
        self.objects.pop(key, None)

    async def list(self, prefix: str) -> AsyncIterator[Info]:
        for key in sorted(self.objects):
            if key.startswith(prefix):
                yield self.objects[key][1]
