"""Media bytes for the publishers, read from the object store.

:class:`ObjectStoreMediaSource` implements ``herald.platforms.base.MediaSource`` structurally: this library does not
import the platforms (nor the contracts); anything with a ``storage_key`` (a ``MediaReference``) can be read.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from herald.objectstore.store import ObjectStore


class StoredMedia(Protocol):
    """What is needed to find a media item's bytes (``herald.contracts.media.MediaReference`` has it)."""

    @property
    def storage_key(self) -> str: ...


class ObjectStoreMediaSource:
    """Streams media objects and hands out presigned GET URLs (Instagram and Facebook fetch by URL)."""

    def __init__(self, store: ObjectStore) -> None:
        self._store = store

    def stream(self, media: StoredMedia, *, chunk_bytes: int) -> AsyncIterator[bytes]:
        """The object's bytes in chunks of ``chunk_bytes`` (the last may be shorter)."""
        return self._store.stream(media.storage_key, chunk_bytes)

    def presigned_url(self, media: StoredMedia, *, expires_in_seconds: int) -> str:
        """A GET URL on the store's public endpoint, valid for ``expires_in_seconds``."""
        return self._store.presign_get(media.storage_key, expires_in_seconds)
