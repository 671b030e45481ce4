"""Media in events: references to bytes kept in Herald's object store, never the bytes themselves.

The media service owns the bytes (S3-compatible object store) and their metadata (PostgreSQL). Events carry a
:class:`MediaReference`: enough for a publisher to fetch the object (``storage_key``) and to apply a platform's
media rules without another lookup (kind, type, size, dimensions, duration).

The media service's own events (:class:`MediaUploaded`, :class:`MediaDeleted`, :class:`MediaCleanedUp`) are for the
audit trail: what was stored, deleted or cleaned up, by whom. They carry keys, never presigned URLs.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from herald.contracts.base import ShortText, TeamEvent, UtcDatetime


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


MAX_MEDIA_ITEMS: Final = 10
"""The most media items one content item (and so one publish request) may carry."""


class _MediaEvent(TeamEvent):
    """An event of the media service, about one media item."""

    SUBJECT_FIELD = "media_id"
    PRODUCERS = ("media",)
    CONSUMERS = ("audit",)

    media_id: UUID
    """Herald's id of the media item."""
    storage_key: str = Field(min_length=1, max_length=1024)
    """The object's key in Herald's media bucket (a key, never a URL)."""
    kind: MediaKind
    """Image, GIF or video, detected from the bytes."""
    content_type: str = Field(pattern=r"^(image|video)/[a-z0-9.+-]+$", max_length=100)
    """The MIME type detected from the bytes."""
    size_bytes: int = Field(ge=1)
    """The object's size."""
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    """The SHA-256 of the bytes, hex."""


class MediaUploaded(_MediaEvent):
    """A media item was stored: a direct upload, or a resumable upload that reached its declared size."""

    TYPE = "com.herald.media.uploaded"
    VERSION = 1

    width: int | None = Field(default=None, ge=1)
    """Pixels, when known."""
    height: int | None = Field(default=None, ge=1)
    """Pixels, when known."""
    duration_ms: int | None = Field(default=None, ge=0)
    """For video (and animated GIF when known): the running time."""
    filename: str | None = Field(default=None, max_length=255)
    """The file name the caller gave, if any (informative only; the kind comes from the bytes)."""
    upload_id: UUID | None = None
    """The resumable upload it completed, or none for a single-request upload."""


class MediaDeleted(_MediaEvent):
    """A media item and its bytes were deleted (no scheduled distribution held it any more)."""

    TYPE = "com.herald.media.deleted"
    VERSION = 1

    reason: ShortText
    """Why, e.g. ``deleted by user``; who is the event's ``actor``."""


class CleanupCategory(StrEnum):
    """What the media cleanup removed."""

    ABANDONED_UPLOAD = "abandoned_upload"
    """A resumable (or multipart) upload that was never completed and outlived its retention."""
    ORPHANED_OBJECT = "orphaned_object"
    """An object in the bucket that no media item or upload refers to."""


class MediaCleanedUp(TeamEvent):
    """The scheduled media cleanup removed an abandoned upload or an orphaned object."""

    TYPE = "com.herald.media.cleaned_up"
    VERSION = 1
    SUBJECT_FIELD = "target"
    PRODUCERS = ("media",)
    CONSUMERS = ("audit",)

    category: CleanupCategory
    """Abandoned upload or orphaned object."""
    target: str = Field(min_length=1, max_length=1024)
    """What was removed: the upload id for an abandoned upload, the object key for an orphaned object."""
    upload_id: UUID | None = None
    """Herald's id of the abandoned upload, when it had one."""
    storage_key: str | None = Field(default=None, max_length=1024)
    """The object key (or key prefix) removed, when there was one."""
    bytes_freed: int = Field(ge=0)
    """How many stored bytes the removal freed (0 when nothing had been written)."""
    last_activity_at: UtcDatetime | None = None
    """When the upload was last appended to, or the object last written (UTC), if known."""
