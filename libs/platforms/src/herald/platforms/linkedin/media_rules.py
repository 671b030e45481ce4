"""LinkedIn media rules: up to 20 images (a GIF counts as an image), or 1 video (not mixed); sizes, pixels, duration.

Numbers and sources: docs/platforms.md, "LinkedIn: media rules".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from herald.contracts.media import MediaKind, MediaReference, Surface
from herald.platforms.media_checks import (
    MIB,
    MediaRuleViolation,
    check_alone,
    check_count,
    check_duration,
    check_size,
    describe,
)

MAX_IMAGES: Final = 20
IMAGE_MAX_BYTES: Final = 5 * MIB
IMAGE_MAX_PIXELS: Final = 36_152_320
"""Images must have fewer pixels than this (width x height)."""
VIDEO_MAX_BYTES: Final = 500 * MIB
VIDEO_MIN_MS: Final = 3_000
VIDEO_MAX_MS: Final = 30 * 60_000


def check_media(media: Sequence[MediaReference], surface: Surface) -> None:
    """Raise :class:`MediaRuleViolation` naming the first LinkedIn media rule ``media`` breaks."""
    if surface is not Surface.DEFAULT:
        raise MediaRuleViolation(
            "linkedin.surface", f"linkedin.surface: LinkedIn has one surface (default), not {surface.value}"
        )
    if not media:
        return
    check_alone("linkedin.media_mixed", "LinkedIn", media, frozenset({MediaKind.VIDEO}))
    check_count("linkedin.media_count", "images", len(media), most=MAX_IMAGES)
    for position, item in enumerate(media, start=1):
        if item.kind is MediaKind.VIDEO:
            check_size("linkedin.video_size", position, item, VIDEO_MAX_BYTES)
            check_duration("linkedin.video_duration", position, item, least_ms=VIDEO_MIN_MS, most_ms=VIDEO_MAX_MS)
            continue
        check_size("linkedin.image_size", position, item, IMAGE_MAX_BYTES)
        _check_pixels(position, item)


def _check_pixels(position: int, item: MediaReference) -> None:
    if item.width is None or item.height is None:
        return
    pixels = item.width * item.height
    if pixels >= IMAGE_MAX_PIXELS:
        raise MediaRuleViolation(
            "linkedin.image_pixels",
            f"linkedin.image_pixels: {describe(position, item)} is {item.width}x{item.height} = {pixels} pixels;"
            f" LinkedIn takes fewer than {IMAGE_MAX_PIXELS}",
            limit=IMAGE_MAX_PIXELS - 1,
            actual=pixels,
        )
