"""Media in events: references to bytes kept in Herald's object store, never the bytes themselves.

The media service owns the bytes (S3-compatible object store) and their metadata (PostgreSQL). Events carry a
:class:`MediaReference`: enough for a publisher to fetch the object (``storage_key``) and to apply a platform's
media rules without another lookup (kind, type, size, dimensions, duration).
"""

from __future__ import annotations

from enum import StrEnum
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field


class MediaKind(StrEnum):
    """What a media item is, as detected from its bytes (never from its name or declared type)."""

    IMAGE = "image"
    """A still image: JPEG, PNG or WebP."""
    GIF = "gif"
    """A GIF (animated or not); platforms treat it apart from other images."""
    VIDEO = "video"
    """A video: MP4 or QuickTime."""


class Surface(StrEnum):
    """Where on a platform an account publishes. Only Meta has more than one: Facebook Pages and Instagram."""

    DEFAULT = "default"
    """The platform's one surface (an X user, a LinkedIn member or organization)."""
    FACEBOOK_PAGE = "facebook_page"
    """A Facebook Page (Graph API ``/{page-id}/feed``, ``/photos``, ``/videos``)."""
    INSTAGRAM = "instagram"
    """An Instagram professional account linked to a Page (Graph API media containers)."""


class MediaReference(BaseModel):
    """One media item attached to a post, in posting order."""

    model_config = ConfigDict(frozen=True, extra="ignore", use_attribute_docstrings=True)

    media_id: UUID
    """Herald's id of the media item (media service)."""
    storage_key: str = Field(min_length=1, max_length=1024)
    """The object's key in Herald's media bucket."""
    kind: MediaKind
    """Image, GIF or video, detected from the bytes."""
    content_type: str = Field(pattern=r"^(image|video)/[a-z0-9.+-]+$", max_length=100)
    """The MIME type detected from the bytes, e.g. ``image/jpeg`` or ``video/mp4``."""
    size_bytes: int = Field(ge=1)
    """The object's size."""
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    """The SHA-256 of the bytes, hex (also how uploads are deduplicated within a team)."""
    width: int | None = Field(default=None, ge=1)
    """Pixels, when known."""
    height: int | None = Field(default=None, ge=1)
    """Pixels, when known."""
    duration_ms: int | None = Field(default=None, ge=0)
    """For video (and animated GIF when known): the running time."""
    alt_text: str | None = Field(default=None, max_length=1500)
    """The description for screen readers, as given on the content (X allows 1,000 characters, LinkedIn more)."""
