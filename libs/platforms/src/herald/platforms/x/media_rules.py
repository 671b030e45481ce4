"""X media rules: up to 4 images, or 1 GIF, or 1 video (not mixed); per-kind size and video duration.

Numbers and sources: docs/platforms.md, "X: media rules".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from herald.contracts.media import MediaKind, MediaReference, Surface
from herald.platforms.media_checks import MIB, MediaRuleViolation, check_alone, check_count, check_duration, check_size

MAX_IMAGES: Final = 4
IMAGE_MAX_BYTES: Final = 5 * MIB
GIF_MAX_BYTES: Final = 15 * MIB
VIDEO_MAX_BYTES: Final = 512 * MIB
VIDEO_MIN_MS: Final = 500
VIDEO_MAX_MS: Final = 140_000

_SIZE: Final = {
    MediaKind.IMAGE: ("x.image_size", IMAGE_MAX_BYTES),
    MediaKind.GIF: ("x.gif_size", GIF_MAX_BYTES),
    MediaKind.VIDEO: ("x.video_size", VIDEO_MAX_BYTES),
}


def check_media(media: Sequence[MediaReference], surface: Surface) -> None:
    """Raise :class:`MediaRuleViolation` naming the first X media rule ``media`` breaks."""
    if surface is not Surface.DEFAULT:
        raise MediaRuleViolation("x.surface", f"x.surface: X has one surface (default), not {surface.value}")
    if not media:
        return
    check_alone("x.media_mixed", "X", media, frozenset({MediaKind.GIF, MediaKind.VIDEO}))
    check_count("x.media_count", "images", len(media), most=MAX_IMAGES)
    for position, item in enumerate(media, start=1):
        rule, limit = _SIZE[item.kind]
        check_size(rule, position, item, limit)
        if item.kind is MediaKind.VIDEO:
            check_duration("x.video_duration", position, item, least_ms=VIDEO_MIN_MS, most_ms=VIDEO_MAX_MS)
