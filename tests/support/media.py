"""In-memory stand-ins for the media seams of ``herald.platforms.base`` (MediaSource, UploadMemory), for client tests.

:class:`FakeMediaSource` keeps bytes in memory and, when served (:func:`served_media`), hands out URLs a platform
sandbox can really download, as Instagram and Facebook fetch a presigned object-store URL. The URLs carry an expiry
and a token so a test can show an expired or forged URL is refused.
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from herald.contracts.media import MediaKind, MediaReference
from herald.platforms.base import UploadRecord
from tests.support.servers import serve


def media_reference(
    data: bytes,
    *,
    kind: MediaKind = MediaKind.IMAGE,
    content_type: str = "image/jpeg",
    width: int | None = 1080,
    height: int | None = 1080,
    duration_ms: int | None = None,
    alt_text: str | None = None,
) -> MediaReference:
    """A reference to ``data`` as the media service would describe it (the caller vouches for kind and size)."""
    media_id = uuid.uuid4()
    return MediaReference(
        media_id=media_id,
        storage_key=f"teams/{uuid.uuid4()}/media/{media_id}",
        kind=kind,
        content_type=content_type,
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        width=width,
        height=height,
        duration_ms=duration_ms,
        alt_text=alt_text,
    )


@dataclass
class FakeMediaSource:
    """Media bytes by storage key; ``base_url`` is set while :func:`served_media` serves them."""

    objects: dict[str, bytes] = field(default_factory=dict)
    base_url: str | None = None
    reads: int = 0
    _grants: dict[str, tuple[str, float]] = field(default_factory=dict)

    def add(self, data: bytes, **describe: object) -> MediaReference:
        """Store ``data`` and return its reference (keyword arguments as for :func:`media_reference`)."""
        reference = media_reference(data, **describe)  # type: ignore[arg-type]
        self.objects[reference.storage_key] = data
        return reference

    async def stream(self, media: MediaReference, *, chunk_bytes: int) -> AsyncIterator[bytes]:
        self.reads += 1
        data = self.objects[media.storage_key]
        for start in range(0, len(data), chunk_bytes):
            yield data[start : start + chunk_bytes]

    def presigned_url(self, media: MediaReference, *, expires_in_seconds: int) -> str:
        if self.base_url is None:
            raise RuntimeError("serve the source with served_media() to hand out URLs")
        token = secrets.token_urlsafe(16)
        self._grants[token] = (media.storage_key, time.time() + expires_in_seconds)
        return f"{self.base_url}/objects/{token}"

    def _answer(self, token: str) -> Response:
        key, until = self._grants.get(token, ("", 0.0))
        if not key or time.time() > until:
            return Response("<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>", 403)
        return Response(self.objects[key], media_type="application/octet-stream")


@contextmanager
def served_media(source: FakeMediaSource) -> Iterator[FakeMediaSource]:
    """Serve ``source``'s presigned URLs over real HTTP for the block."""

    async def fetch(request: Request) -> Response:
        return source._answer(request.path_params["token"])

    with serve(Starlette(routes=[Route("/objects/{token}", fetch)])) as base_url:
        source.base_url = base_url
        try:
            yield source
        finally:
            source.base_url = None


@dataclass
class FakeUploadMemory:
    """The upload steps recorded for one distribution, with every step kept in ``history`` for assertions."""

    records: dict[uuid.UUID, UploadRecord] = field(default_factory=dict)
    history: list[tuple[uuid.UUID, UploadRecord]] = field(default_factory=list)

    async def recall(self, media: MediaReference) -> UploadRecord | None:
        return self.records.get(media.media_id)

    async def remember(self, media: MediaReference, record: UploadRecord) -> None:
        self.records[media.media_id] = record
        self.history.append((media.media_id, record))
