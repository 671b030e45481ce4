"""X media uploads as the sandbox keeps them: the chunked INIT/APPEND/FINALIZE session rules, processing and expiry.

Both API surfaces share this state: the v2 endpoints (``/2/media/upload/initialize``, ``/{id}/append``,
``/{id}/finalize``, ``GET /2/media/upload?command=STATUS``) and v1.1's ``upload.twitter.com/1.1/media/upload.json``
that tweepy's ``API.media_upload`` calls. Rules (https://docs.x.com/x-api/media/quickstart/media-upload-chunked and
https://developer.x.com/en/docs/media/upload-media/api-reference/post-media-upload-init):

* a segment is at most 5 MB and segments come in order, ``segment_index`` 0..999 (a segment already received may be
  sent again and replaces the first copy, as a client does when an APPEND answer was lost);
* FINALIZE needs every byte INIT declared (``total_bytes``), no more and no less;
* the media type must fit the ``media_category``, and the size its limit (5 MB images, 15 MB GIFs, 512 MB videos);
* videos and GIFs are processed after FINALIZE (``processing_info``: pending -> in_progress -> succeeded | failed),
  taking ``media_processing_seconds``; a ``processing`` fault makes the processing fail;
* a media id dies ``media_expires_after_secs`` after INIT: any later use is refused.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass, field
from typing import Any, Final

MIB: Final = 1024 * 1024
MAX_SEGMENT_BYTES: Final = 5 * MIB
MAX_SEGMENTS: Final = 1000
MEDIA_ID_BASE: Final = 1_880_000_000_000_000_000  # 19-digit ids like X's

# category -> (accepted media types, byte limit, processed asynchronously)
CATEGORIES: Final[dict[str, tuple[frozenset[str], int, bool]]] = {
    "tweet_image": (
        frozenset({"image/jpeg", "image/pjpeg", "image/png", "image/webp", "image/bmp", "image/tiff", "image/gif"}),
        5 * MIB,
        False,
    ),
    "tweet_gif": (frozenset({"image/gif"}), 15 * MIB, True),
    "tweet_video": (frozenset({"video/mp4", "video/quicktime", "video/webm", "video/mp2t"}), 512 * MIB, True),
}
# Categories X knows but tweets from this sandbox do not use: accepted at INIT with the video limits.
OTHER_CATEGORIES: Final = frozenset({"amplify_video", "dm_image", "dm_gif", "dm_video", "subtitles"})
PROCESSING_FAILURE: Final = {"code": 1, "name": "InvalidMedia", "message": "Unsupported video format"}


class MediaRefused(Exception):
    """An upload call X would refuse; the route answers it in its API version's error shape."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass
class Upload:
    """One media id: what INIT declared and what arrived since."""

    id: str
    account: str
    owner_id: str
    media_type: str
    category: str
    total_bytes: int
    created: float
    expires: float
    additional_owners: frozenset[str] = frozenset()
    segments: list[bytes] = field(default_factory=list)
    finalized_at: float | None = None
    processing_seconds: float = 0.0
    fails: bool = False
    alt_text: str | None = None

    @property
    def media_key(self) -> str:
        prefix = {"tweet_video": "7", "tweet_gif": "16"}.get(self.category, "3")
        return f"{prefix}_{self.id}"

    @property
    def received(self) -> int:
        return sum(len(s) for s in self.segments)

    @property
    def processed_async(self) -> bool:
        return CATEGORIES.get(self.category, (frozenset(), 0, True))[2]

    def expired(self, now: float) -> bool:
        return now >= self.expires

    def expires_after_secs(self, now: float) -> int:
        return max(0, math.floor(self.expires - now))

    def state(self, now: float) -> str:
        """``uploading`` before FINALIZE, then X's processing states."""
        if self.finalized_at is None:
            return "uploading"
        if not self.processed_async:
            return "succeeded"
        elapsed = now - self.finalized_at
        if elapsed >= self.processing_seconds:
            return "failed" if self.fails else "succeeded"
        return "pending" if elapsed < self.processing_seconds / 2 else "in_progress"

    def usable_by(self, user_id: str) -> bool:
        return user_id == self.owner_id or user_id in self.additional_owners

    def sha256(self) -> str:
        return hashlib.sha256(b"".join(self.segments)).hexdigest()

    def processing_info(self, now: float, check_after_secs: int) -> dict[str, Any] | None:
        """X's ``processing_info`` object, or ``None`` for media that is never processed."""
        if not self.processed_async or self.finalized_at is None:
            return None
        state = self.state(now)
        elapsed = now - self.finalized_at
        progress = 100 if state == "succeeded" else min(99, int(100 * elapsed / max(self.processing_seconds, 1e-9)))
        info: dict[str, Any] = {"state": state, "progress_percent": progress}
        if state in ("pending", "in_progress"):
            info["check_after_secs"] = check_after_secs
        if state == "failed":
            info["error"] = dict(PROCESSING_FAILURE)
        return info

    def public(self, now: float) -> dict[str, Any]:
        """What the control API shows: enough for a test to check the bytes and the state."""
        return {
            "id": self.id,
            "media_key": self.media_key,
            "account": self.account,
            "media_type": self.media_type,
            "media_category": self.category,
            "total_bytes": self.total_bytes,
            "received_bytes": self.received,
            "segments": len(self.segments),
            "sha256": self.sha256(),
            "state": self.state(now),
            "expired": self.expired(now),
            "alt_text": self.alt_text,
        }


class UploadBook:
    """Every media id the sandbox issued (one event loop: plain dicts)."""

    def __init__(self) -> None:
        self._uploads: dict[str, Upload] = {}
        self._next = 0

    def clear(self) -> None:
        self._uploads.clear()

    def all(self) -> list[Upload]:
        return list(self._uploads.values())

    def initialize(
        self,
        *,
        account: str,
        owner_id: str,
        media_type: str,
        total_bytes: Any,
        category: str | None,
        lifetime_seconds: int,
        additional_owners: frozenset[str] = frozenset(),
        now: float | None = None,
    ) -> Upload:
        """INIT: check the declared type and size, issue a media id."""
        now = time.time() if now is None else now
        if not isinstance(total_bytes, int) or isinstance(total_bytes, bool) or total_bytes <= 0:
            raise MediaRefused("total_bytes: must be a positive integer.")
        if not media_type:
            raise MediaRefused("media_type: is missing but it is required.")
        category = category or _category_for(media_type)
        if category in OTHER_CATEGORIES:
            limit, types = 512 * MIB, None
        elif category in CATEGORIES:
            accepted, limit, _ = CATEGORIES[category]
            types = accepted
        else:
            raise MediaRefused(f"media_category: [{category}] is not one of [{', '.join(sorted(CATEGORIES))}].")
        if types is not None and media_type not in types:
            raise MediaRefused(f"media_type: [{media_type}] is not allowed for media_category [{category}].")
        if total_bytes > limit:
            raise MediaRefused(
                f"File size exceeds {limit} bytes: {total_bytes} bytes declared for media_category [{category}]."
            )
        self._next += 1
        upload = Upload(
            id=str(MEDIA_ID_BASE + self._next),
            account=account,
            owner_id=owner_id,
            media_type=media_type,
            category=category,
            total_bytes=total_bytes,
            created=now,
            expires=now + lifetime_seconds,
            additional_owners=additional_owners,
        )
        self._uploads[upload.id] = upload
        return upload

    def get(self, media_id: str, account: str, *, now: float | None = None) -> Upload:
        """The caller's live upload, or X's refusal (unknown, someone else's, or expired)."""
        now = time.time() if now is None else now
        upload = self._uploads.get(media_id)
        if upload is None or upload.account != account:
            raise MediaRefused(f"media_id: [{media_id}] is not a valid media id.")
        if upload.expired(now):
            raise MediaRefused(f"media_id: [{media_id}] has expired.")
        return upload

    def append(self, upload: Upload, segment_index: Any, data: bytes) -> None:
        """APPEND: the next segment in order (or the last one again)."""
        if upload.finalized_at is not None:
            raise MediaRefused(f"media_id: [{upload.id}] is already finalized; no more segments are accepted.")
        index = _integer(segment_index, "segment_index")
        if not 0 <= index < MAX_SEGMENTS:
            raise MediaRefused(f"segment_index: must be between 0 and {MAX_SEGMENTS - 1}, got {index}.")
        if len(data) > MAX_SEGMENT_BYTES:
            raise MediaRefused(f"Segment size exceeds {MAX_SEGMENT_BYTES} bytes: {len(data)} bytes sent.")
        if not data:
            raise MediaRefused("media: is missing but it is required.")
        if index > len(upload.segments):
            raise MediaRefused(
                f"segment_index: segments must be sent in order; expected {len(upload.segments)}, got {index}."
            )
        if index == len(upload.segments):
            upload.segments.append(data)
        else:
            upload.segments[index] = data
        if upload.received > upload.total_bytes:
            raise MediaRefused(
                f"File size exceeds the declared total_bytes: {upload.received} bytes received,"
                f" {upload.total_bytes} declared."
            )

    def finalize(self, upload: Upload, *, processing_seconds: float, fails: bool, now: float | None = None) -> None:
        """FINALIZE: every declared byte must have arrived; videos and GIFs start processing."""
        now = time.time() if now is None else now
        if upload.finalized_at is not None:
            return  # a second FINALIZE answers the same state (a client retrying a lost answer)
        if upload.received != upload.total_bytes:
            raise MediaRefused(
                f"File size mismatch: {upload.received} bytes received, {upload.total_bytes} declared in INIT."
            )
        upload.finalized_at = now
        upload.processing_seconds = processing_seconds
        upload.fails = fails

    def simple(self, *, account: str, owner_id: str, data: bytes, media_type: str, lifetime_seconds: int) -> Upload:
        """v1.1's one-shot upload (``media`` without ``command``): INIT, one APPEND and FINALIZE at once."""
        upload = self.initialize(
            account=account,
            owner_id=owner_id,
            media_type=media_type,
            total_bytes=len(data),
            category=None,
            lifetime_seconds=lifetime_seconds,
        )
        self.append(upload, 0, data)
        self.finalize(upload, processing_seconds=0.0, fails=False)
        return upload

    def attachable(self, media_ids: Any, user_id: str, *, now: float | None = None) -> list[Upload]:
        """The uploads a post may attach: known, the user's, alive, processed; 1-4 images or one video/GIF."""
        now = time.time() if now is None else now
        if not isinstance(media_ids, list) or not media_ids or not all(isinstance(i, str) for i in media_ids):
            raise MediaRefused("Your media IDs are invalid.")
        if len(media_ids) > 4:
            raise MediaRefused("Your media IDs are invalid.")
        uploads = []
        for media_id in media_ids:
            upload = self._uploads.get(media_id)
            if upload is None or not upload.usable_by(user_id) or upload.expired(now):
                raise MediaRefused("Your media IDs are invalid.")
            if upload.state(now) != "succeeded":
                raise MediaRefused("Your media IDs are invalid.")
            uploads.append(upload)
        if len(uploads) > 1 and any(u.category != "tweet_image" for u in uploads):
            raise MediaRefused("Your media IDs are invalid.")
        return uploads


def _category_for(media_type: str) -> str:
    if media_type.startswith("video/"):
        return "tweet_video"
    if media_type == "image/gif":
        return "tweet_gif"
    return "tweet_image"


def _integer(value: Any, name: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    raise MediaRefused(f"{name}: must be an integer.")
