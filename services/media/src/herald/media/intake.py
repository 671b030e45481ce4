"""From bytes to a described media item: detect the type, apply the kind's size limit, read the metadata.

Shared by direct uploads (a file the API spooled) and resumable uploads (an object completed in the store); both
hand over a way to read ranges, so a video's ``moov`` is found without reading the whole file into memory.
Images are read whole: they are small (the image and GIF limits are megabytes) and GIF delays need every block.
"""

from __future__ import annotations

from dataclasses import dataclass

from herald.contracts.media import MediaKind
from herald.media.errors import MalformedMedia, TooLarge, UnsupportedMedia
from herald.media.imaging import image_info
from herald.media.isobmff import ReadRange, video_info
from herald.media.probing import Malformed, MediaInfo
from herald.media.settings import MediaSettings
from herald.media.sniffing import Detected, Unsupported, sniff


@dataclass(frozen=True)
class Described:
    """What the bytes are: format, kind and MIME type, size, SHA-256, dimensions and duration."""

    detected: Detected
    size_bytes: int
    sha256: str
    info: MediaInfo

    @property
    def kind(self) -> MediaKind:
        return self.detected.kind


def detect(head: bytes) -> Detected:
    """:func:`~herald.media.sniffing.sniff` with the refusal the API answers."""
    try:
        return sniff(head)
    except Unsupported as refused:
        raise UnsupportedMedia(str(refused), refused.detected) from None


def check_size(settings: MediaSettings, kind: MediaKind, size: int) -> None:
    limit = settings.limit(kind)
    if size > limit:
        raise TooLarge(f"{kind.value} of {size} bytes is over the {kind.value} limit of {limit} bytes", limit)


async def describe(settings: MediaSettings, head: bytes, size: int, sha256: str, read: ReadRange) -> Described:
    """Detect, check the size against the kind's limit, and read dimensions/duration through ``read``."""
    detected = detect(head)
    check_size(settings, detected.kind, size)
    try:
        if detected.kind is MediaKind.VIDEO:
            info = await video_info(read, size)
        else:
            info = image_info(detected.format, await read(0, size))
    except Malformed as malformed:
        raise MalformedMedia(str(malformed)) from None
    return Described(detected, size, sha256, info)
