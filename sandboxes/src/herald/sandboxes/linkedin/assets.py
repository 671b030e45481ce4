"""What the LinkedIn sandbox keeps about uploaded images and videos (``urn:li:image:…`` / ``urn:li:video:…``).

Statuses follow https://learn.microsoft.com/en-us/linkedin/marketing/community-management/shares/images-api and
https://learn.microsoft.com/en-us/linkedin/marketing/community-management/shares/videos-api: ``WAITING_UPLOAD`` until
the bytes are in (a video: until ``finalizeUpload``), then ``PROCESSING``, then ``AVAILABLE`` or ``PROCESSING_FAILED``.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass, field
from enum import StrEnum


class AssetStatus(StrEnum):
    WAITING_UPLOAD = "WAITING_UPLOAD"
    PROCESSING = "PROCESSING"
    AVAILABLE = "AVAILABLE"
    PROCESSING_FAILED = "PROCESSING_FAILED"


@dataclass
class UploadPart:
    """One byte range of an upload, reachable at ``/dms-uploads/{key}`` once, until the asset's URLs expire."""

    key: str
    first_byte: int
    last_byte: int
    etag: str | None = None  # set once the part arrived

    @property
    def size(self) -> int:
        return self.last_byte - self.first_byte + 1


@dataclass
class Asset:
    """An image or a video: who owns it, its upload parts and where processing stands."""

    urn: str
    kind: str  # "image" | "video"
    owner: str
    size: int | None  # declared fileSizeBytes (videos)
    created_at: dt.datetime
    upload_expires_at: dt.datetime
    parts: list[UploadPart]
    upload_token: str = ""
    received: int = 0  # bytes received
    sha256: str | None = None  # of an image's bytes (one part): lets a test check a post has exactly its media
    processing_until: dt.datetime | None = None
    failure_reason: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def status(self, now: dt.datetime) -> AssetStatus:
        if self.processing_until is None:
            return AssetStatus.WAITING_UPLOAD
        if now < self.processing_until:
            return AssetStatus.PROCESSING
        return AssetStatus.PROCESSING_FAILED if self.failure_reason else AssetStatus.AVAILABLE


def new_part_key() -> str:
    return secrets.token_urlsafe(18)


def new_asset_id() -> str:
    """LinkedIn asset ids look like ``C4E10AQFoyyAjHPMQuQ`` (opaque, URL-safe)."""
    return "D4D10AQ" + secrets.token_urlsafe(9).replace("-", "x").replace("_", "y")
