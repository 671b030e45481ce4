"""What the media use cases can refuse, in one place; :mod:`herald.media.api` maps each to an HTTP answer.

``MediaNotFound`` / ``UploadNotFound``  404: no such item or upload, or another team's (indistinguishable).
``UnsupportedMedia``                    422: the bytes are not an accepted format (names what was detected).
``MalformedMedia``                      422: an accepted format that cannot be read (truncated, corrupt).
``InvalidInput``                        422: a field or header is wrong (names it).
``TooLarge``                            413: over the limit of the item's kind (or of any kind, before it is known).
``OffsetMismatch``                      409: a chunk that does not start where the upload stands (gives the offset).
``UploadBusy``                          409: another chunk of the same upload is being written.
``MediaHeld``                           409: distributions still use the item (lists them).
``DeletionInProgress``                  409: the item is being deleted by another request.
``SchedulerUnavailable``                503: the scheduler could not say who holds the item; nothing was deleted.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any


class MediaError(Exception):
    """Base class of the refusals above."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class MediaNotFound(MediaError):
    def __init__(self, media_id: uuid.UUID) -> None:
        super().__init__(f"media {media_id} not found")


class UploadNotFound(MediaError):
    def __init__(self, upload_id: uuid.UUID) -> None:
        super().__init__(f"upload {upload_id} not found")


class UnsupportedMedia(MediaError):
    def __init__(self, message: str, detected: str) -> None:
        super().__init__(message)
        self.detected = detected


class MalformedMedia(MediaError):
    pass


class InvalidInput(MediaError):
    """``loc`` is FastAPI's location of the wrong input, e.g. ``("header", "Content-Range")``."""

    def __init__(self, loc: Sequence[str], message: str) -> None:
        super().__init__(message)
        self.loc = tuple(loc)


class TooLarge(MediaError):
    def __init__(self, message: str, limit: int) -> None:
        super().__init__(message)
        self.limit = limit


class OffsetMismatch(MediaError):
    def __init__(self, offset: int, got: int) -> None:
        super().__init__(f"the chunk starts at byte {got} but the upload stands at byte {offset}: resume from {offset}")
        self.offset = offset


class UploadBusy(MediaError):
    pass


class MediaHeld(MediaError):
    def __init__(self, media_id: uuid.UUID, distributions: list[dict[str, Any]]) -> None:
        super().__init__(
            f"media {media_id} is used by {len(distributions)} scheduled distribution(s): withdraw them first"
        )
        self.distributions = distributions


class DeletionInProgress(MediaError):
    pass


class SchedulerUnavailable(MediaError):
    pass
