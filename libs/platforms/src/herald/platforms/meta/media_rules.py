"""Meta media rules, per surface: Facebook Page posts and Instagram posts (feed image, reel, carousel).

Facebook Page: up to 10 photos (a GIF counts as a photo) or 1 video, not mixed.
Instagram: at least one item (no text-only posts). One image is a feed post (JPEG, aspect ratio 4:5 to 1.91:1),
one video is a reel, 2 to 10 items are a carousel (images and videos may be mixed; carousel videos are shorter).
A Meta account with no surface (``default``) is a Facebook Page: what every Meta account was before Instagram.

Numbers and sources: docs/platforms.md, "Meta: media rules".
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
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

FACEBOOK_MAX_PHOTOS: Final = 10
FACEBOOK_PHOTO_MAX_BYTES: Final = 10 * MIB
FACEBOOK_VIDEO_MAX_BYTES: Final = 10 * 1024 * MIB
FACEBOOK_VIDEO_MAX_MS: Final = 4 * 3_600_000

INSTAGRAM_MAX_ITEMS: Final = 10
INSTAGRAM_CAROUSEL_MIN_ITEMS: Final = 2
INSTAGRAM_IMAGE_TYPE: Final = "image/jpeg"
INSTAGRAM_IMAGE_MAX_BYTES: Final = 8 * MIB
INSTAGRAM_MIN_ASPECT: Final = Fraction(4, 5)
INSTAGRAM_MAX_ASPECT: Final = Fraction(191, 100)
INSTAGRAM_REEL_MIN_MS: Final = 3_000
INSTAGRAM_REEL_MAX_MS: Final = 15 * 60_000
INSTAGRAM_REEL_MAX_BYTES: Final = 300 * MIB
INSTAGRAM_CAROUSEL_VIDEO_MIN_MS: Final = 3_000
INSTAGRAM_CAROUSEL_VIDEO_MAX_MS: Final = 60_000
INSTAGRAM_CAROUSEL_VIDEO_MAX_BYTES: Final = 100 * MIB


def check_media(media: Sequence[MediaReference], surface: Surface) -> None:
    """Raise :class:`MediaRuleViolation` naming the first rule of ``surface`` that ``media`` breaks."""
    if surface is Surface.INSTAGRAM:
        _instagram(media)
    else:
        _facebook_page(media)


def _facebook_page(media: Sequence[MediaReference]) -> None:
    if not media:
        return
    check_alone("facebook.media_mixed", "a Facebook Page", media, frozenset({MediaKind.VIDEO}))
    check_count("facebook.media_count", "photos", len(media), most=FACEBOOK_MAX_PHOTOS)
    for position, item in enumerate(media, start=1):
        if item.kind is MediaKind.VIDEO:
            check_size("facebook.video_size", position, item, FACEBOOK_VIDEO_MAX_BYTES)
            check_duration("facebook.video_duration", position, item, least_ms=1, most_ms=FACEBOOK_VIDEO_MAX_MS)
        else:
            check_size("facebook.photo_size", position, item, FACEBOOK_PHOTO_MAX_BYTES)


def _instagram(media: Sequence[MediaReference]) -> None:
    if not media:
        raise MediaRuleViolation(
            "instagram.media_required",
            "instagram.media_required: an Instagram post needs at least one image or video (no text-only posts)",
            limit=1,
            actual=0,
        )
    check_count("instagram.media_count", "media items", len(media), most=INSTAGRAM_MAX_ITEMS)
    carousel = len(media) >= INSTAGRAM_CAROUSEL_MIN_ITEMS
    for position, item in enumerate(media, start=1):
        if item.kind is MediaKind.VIDEO:
            if carousel:
                check_size("instagram.carousel_video_size", position, item, INSTAGRAM_CAROUSEL_VIDEO_MAX_BYTES)
                check_duration(
                    "instagram.carousel_video_duration",
                    position,
                    item,
                    least_ms=INSTAGRAM_CAROUSEL_VIDEO_MIN_MS,
                    most_ms=INSTAGRAM_CAROUSEL_VIDEO_MAX_MS,
                )
            else:
                check_size("instagram.reel_size", position, item, INSTAGRAM_REEL_MAX_BYTES)
                check_duration(
                    "instagram.reel_duration",
                    position,
                    item,
                    least_ms=INSTAGRAM_REEL_MIN_MS,
                    most_ms=INSTAGRAM_REEL_MAX_MS,
                )
            continue
        _instagram_image(position, item)


def _instagram_image(position: int, item: MediaReference) -> None:
    if item.content_type != INSTAGRAM_IMAGE_TYPE:
        raise MediaRuleViolation(
            "instagram.image_format",
            f"instagram.image_format: {describe(position, item)} is not a JPEG; Instagram publishes JPEG images only",
        )
    check_size("instagram.image_size", position, item, INSTAGRAM_IMAGE_MAX_BYTES)
    if item.width is None or item.height is None:
        return
    ratio = Fraction(item.width, item.height)
    if not INSTAGRAM_MIN_ASPECT <= ratio <= INSTAGRAM_MAX_ASPECT:
        raise MediaRuleViolation(
            "instagram.aspect_ratio",
            f"instagram.aspect_ratio: {describe(position, item)} is {item.width}x{item.height}"
            f" (aspect ratio {float(ratio):.3f}:1); Instagram takes 4:5 (0.8:1) to 1.91:1",
        )
