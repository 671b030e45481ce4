"""What the Meta sandbox keeps about media: Page photos and videos, and Instagram media containers.

Container statuses follow https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-container:
``IN_PROGRESS`` while the media is fetched and processed, ``FINISHED`` when it can be published, ``ERROR`` when it
failed (``status`` then carries the reason), ``EXPIRED`` when not published within 24 hours, ``PUBLISHED`` once
published.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum


class ContainerStatus(StrEnum):
    IN_PROGRESS = "IN_PROGRESS"
    FINISHED = "FINISHED"
    ERROR = "ERROR"
    EXPIRED = "EXPIRED"
    PUBLISHED = "PUBLISHED"


@dataclass
class Upload:
    """A Page photo or video. ``post_id`` is set once it is part of a published post."""

    id: str
    page_id: str
    kind: str  # "photo" | "video"
    published: bool
    size: int
    created_at: dt.datetime
    post_id: str | None = None
    sha256: str = ""  # of the bytes received: lets a test check a post carries exactly the media it sent


@dataclass
class VideoSession:
    """A resumable Page video upload (``upload_phase=start|transfer|finish``)."""

    id: str
    page_id: str
    video_id: str
    size: int
    received: bytearray = field(default_factory=bytearray)
    finished: bool = False


@dataclass
class Container:
    """An Instagram media container (``POST /{ig-user-id}/media``)."""

    id: str
    ig_user_id: str
    media_type: str  # IMAGE | VIDEO | REELS | CAROUSEL
    caption: str
    created_at: dt.datetime
    ready_at: dt.datetime
    url: str | None = None
    is_carousel_item: bool = False
    children: tuple[str, ...] = ()
    alt_text: str | None = None
    downloaded: bool = False
    size: int = 0
    sha256: str = ""  # of the downloaded bytes (see Upload.sha256)
    error: str | None = None  # the ``status`` text once ERROR
    forced: ContainerStatus | None = None  # injected ERROR / EXPIRED
    published_media_id: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def status(self, now: dt.datetime, ttl: dt.timedelta, children: list[Container]) -> ContainerStatus:
        """The status right now; a carousel is as far as its least advanced child."""
        if self.published_media_id is not None:
            return ContainerStatus.PUBLISHED
        if self.forced is ContainerStatus.EXPIRED or now - self.created_at >= ttl:
            return ContainerStatus.EXPIRED
        if self.error is not None or any(child.error is not None for child in children):
            return ContainerStatus.ERROR
        ready = self.downloaded and now >= self.ready_at
        if ready and all(child.status(now, ttl, []) is ContainerStatus.FINISHED for child in children):
            return ContainerStatus.FINISHED
        return ContainerStatus.IN_PROGRESS

    def status_text(self, status: ContainerStatus) -> str:
        """The ``status`` field: the error text for ERROR, else the status itself (Graph's short form)."""
        if status is ContainerStatus.ERROR:
            return self.error or "Error"
        return {
            ContainerStatus.IN_PROGRESS: "In Progress",
            ContainerStatus.FINISHED: "Finished",
            ContainerStatus.EXPIRED: "Expired",
            ContainerStatus.PUBLISHED: "Published",
        }[status]
