"""Media rules per platform and surface: each rule passes at its limit and fails just past it, named in the error.

The rules run inside each platform's ``ContentRules.prepare`` (so the scheduler's schedule-time check and the
publisher's check are the same code); these tables go through ``prepare`` too.
"""

from __future__ import annotations

import uuid
from typing import Any, NamedTuple

import pytest

from herald.contracts.media import MediaKind, MediaReference, Surface
from herald.contracts.publishing import OverLengthPolicy
from herald.platforms.base import ContentRules, ContentRuleViolation, Draft
from herald.platforms.linkedin.rules import LinkedInRules
from herald.platforms.media_checks import MIB
from herald.platforms.meta.rules import MetaContentRules
from herald.platforms.x.rules import XContentRules

TYPES = {MediaKind.IMAGE: "image/jpeg", MediaKind.GIF: "image/gif", MediaKind.VIDEO: "video/mp4"}


def item(
    kind: MediaKind = MediaKind.IMAGE,
    *,
    size: int = 1000,
    content_type: str | None = None,
    duration_ms: int | None = None,
    width: int | None = None,
    height: int | None = None,
) -> MediaReference:
    if kind is MediaKind.VIDEO and duration_ms is None:
        duration_ms = 10_000
    media_id = uuid.uuid4()
    return MediaReference(
        media_id=media_id,
        storage_key=f"teams/t/media/{media_id}",
        kind=kind,
        content_type=content_type or TYPES[kind],
        size_bytes=size,
        sha256="0" * 64,
        width=width,
        height=height,
        duration_ms=duration_ms,
    )


IMAGE, GIF, VIDEO = MediaKind.IMAGE, MediaKind.GIF, MediaKind.VIDEO


def images(count: int, **fields: Any) -> list[MediaReference]:
    return [item(IMAGE, **fields) for _ in range(count)]


class Case(NamedTuple):
    name: str
    media: list[MediaReference]
    broken: str | None  # the rule the media breaks, or None when it passes


X_CASES = [
    Case("no media", [], None),
    Case("4 images", images(4), None),
    Case("5 images", images(5), "x.media_count"),
    Case("1 gif", [item(GIF)], None),
    Case("gif with an image", [item(GIF), item(IMAGE)], "x.media_mixed"),
    Case("2 gifs", [item(GIF), item(GIF)], "x.media_mixed"),
    Case("1 video", [item(VIDEO)], None),
    Case("image then video", [item(IMAGE), item(VIDEO)], "x.media_mixed"),
    Case("image at 5 MB", [item(size=5 * MIB)], None),
    Case("image 1 byte over 5 MB", [item(size=5 * MIB + 1)], "x.image_size"),
    Case("gif at 15 MB", [item(GIF, size=15 * MIB)], None),
    Case("gif 1 byte over 15 MB", [item(GIF, size=15 * MIB + 1)], "x.gif_size"),
    Case("video at 512 MB", [item(VIDEO, size=512 * MIB)], None),
    Case("video 1 byte over 512 MB", [item(VIDEO, size=512 * MIB + 1)], "x.video_size"),
    Case("video of 0.5 s", [item(VIDEO, duration_ms=500)], None),
    Case("video of 0.499 s", [item(VIDEO, duration_ms=499)], "x.video_duration"),
    Case("video of 140 s", [item(VIDEO, duration_ms=140_000)], None),
    Case("video of 140.001 s", [item(VIDEO, duration_ms=140_001)], "x.video_duration"),
]

LINKEDIN_CASES = [
    Case("no media", [], None),
    Case("20 images", images(20), None),
    Case("21 images", images(21), "linkedin.media_count"),
    Case("images and a gif", [item(IMAGE), item(GIF)], None),
    Case("1 video", [item(VIDEO)], None),
    Case("video with an image", [item(VIDEO), item(IMAGE)], "linkedin.media_mixed"),
    Case("image at 5 MB", [item(size=5 * MIB)], None),
    Case("image 1 byte over 5 MB", [item(size=5 * MIB + 1)], "linkedin.image_size"),
    Case("image just under the pixel limit", [item(width=36_152_319, height=1)], None),
    Case("image at the pixel limit", [item(width=36_152_320, height=1)], "linkedin.image_pixels"),
    Case("video at 500 MB", [item(VIDEO, size=500 * MIB)], None),
    Case("video 1 byte over 500 MB", [item(VIDEO, size=500 * MIB + 1)], "linkedin.video_size"),
    Case("video of 3 s", [item(VIDEO, duration_ms=3_000)], None),
    Case("video of 2.999 s", [item(VIDEO, duration_ms=2_999)], "linkedin.video_duration"),
    Case("video of 30 min", [item(VIDEO, duration_ms=1_800_000)], None),
    Case("video of 30 min + 1 ms", [item(VIDEO, duration_ms=1_800_001)], "linkedin.video_duration"),
]

FACEBOOK_CASES = [
    Case("no media", [], None),
    Case("10 photos", images(10), None),
    Case("11 photos", images(11), "facebook.media_count"),
    Case("photos and a gif", [item(IMAGE), item(GIF)], None),
    Case("1 video", [item(VIDEO)], None),
    Case("video with a photo", [item(IMAGE), item(VIDEO)], "facebook.media_mixed"),
    Case("photo at 10 MB", [item(size=10 * MIB)], None),
    Case("photo 1 byte over 10 MB", [item(size=10 * MIB + 1)], "facebook.photo_size"),
    Case("video at 10 GB", [item(VIDEO, size=10 * 1024 * MIB)], None),
    Case("video 1 byte over 10 GB", [item(VIDEO, size=10 * 1024 * MIB + 1)], "facebook.video_size"),
    Case("video of 4 h", [item(VIDEO, duration_ms=14_400_000)], None),
    Case("video of 4 h + 1 ms", [item(VIDEO, duration_ms=14_400_001)], "facebook.video_duration"),
]

INSTAGRAM_CASES = [
    Case("no media", [], "instagram.media_required"),
    Case("1 jpeg", [item()], None),
    Case("1 png", [item(content_type="image/png")], "instagram.image_format"),
    Case("1 gif", [item(GIF)], "instagram.image_format"),
    Case("jpeg at 8 MB", [item(size=8 * MIB)], None),
    Case("jpeg 1 byte over 8 MB", [item(size=8 * MIB + 1)], "instagram.image_size"),
    Case("aspect 4:5", [item(width=1080, height=1350)], None),
    Case("aspect just taller than 4:5", [item(width=1079, height=1350)], "instagram.aspect_ratio"),
    Case("aspect 1.91:1", [item(width=1910, height=1000)], None),
    Case("aspect just wider than 1.91:1", [item(width=1911, height=1000)], "instagram.aspect_ratio"),
    Case("dimensions unknown", [item()], None),
    Case("reel of 3 s", [item(VIDEO, duration_ms=3_000)], None),
    Case("reel of 2.999 s", [item(VIDEO, duration_ms=2_999)], "instagram.reel_duration"),
    Case("reel of 15 min", [item(VIDEO, duration_ms=900_000)], None),
    Case("reel of 15 min + 1 ms", [item(VIDEO, duration_ms=900_001)], "instagram.reel_duration"),
    Case("reel at 300 MB", [item(VIDEO, size=300 * MIB)], None),
    Case("reel 1 byte over 300 MB", [item(VIDEO, size=300 * MIB + 1)], "instagram.reel_size"),
    Case("carousel of 2 mixed", [item(), item(VIDEO)], None),
    Case("carousel of 10", [*images(9), item(VIDEO)], None),
    Case("carousel of 11", images(11), "instagram.media_count"),
    Case("carousel video of 60 s", [item(), item(VIDEO, duration_ms=60_000)], None),
    Case(
        "carousel video of 60.001 s",
        [item(), item(VIDEO, duration_ms=60_001)],
        "instagram.carousel_video_duration",
    ),
    Case("carousel video of 2.999 s", [item(), item(VIDEO, duration_ms=2_999)], "instagram.carousel_video_duration"),
    Case("carousel video at 100 MB", [item(), item(VIDEO, size=100 * MIB)], None),
    Case("carousel video over 100 MB", [item(), item(VIDEO, size=100 * MIB + 1)], "instagram.carousel_video_size"),
    Case("carousel with a png", [item(), item(content_type="image/png")], "instagram.image_format"),
]


def _check(rules: ContentRules, surface: Surface, case: Case) -> None:
    draft = Draft(text="Spring launch", media=tuple(case.media), surface=surface)
    if case.broken is None:
        assert rules.prepare(draft).media == tuple(case.media)
        return
    with pytest.raises(ContentRuleViolation) as caught:
        rules.prepare(draft)
    assert caught.value.rule == case.broken
    assert caught.value.message.startswith(f"{case.broken}: ")


@pytest.mark.parametrize("case", X_CASES, ids=lambda c: c.name)
def test_x(case: Case) -> None:
    _check(XContentRules(), Surface.DEFAULT, case)


@pytest.mark.parametrize("case", LINKEDIN_CASES, ids=lambda c: c.name)
def test_linkedin(case: Case) -> None:
    _check(LinkedInRules(), Surface.DEFAULT, case)


@pytest.mark.parametrize("case", FACEBOOK_CASES, ids=lambda c: c.name)
@pytest.mark.parametrize("surface", [Surface.FACEBOOK_PAGE, Surface.DEFAULT], ids=["facebook_page", "meta_default"])
def test_facebook_page(case: Case, surface: Surface) -> None:
    # A Meta account without a surface is a Facebook Page (every Meta account was, before Instagram).
    _check(MetaContentRules(), surface, case)


@pytest.mark.parametrize("case", INSTAGRAM_CASES, ids=lambda c: c.name)
def test_instagram(case: Case) -> None:
    _check(MetaContentRules(), Surface.INSTAGRAM, case)


@pytest.mark.parametrize(
    ("rules", "rule"), [(XContentRules(), "x.surface"), (LinkedInRules(), "linkedin.surface")], ids=["x", "linkedin"]
)
def test_x_and_linkedin_have_one_surface(rules: ContentRules, rule: str) -> None:
    with pytest.raises(ContentRuleViolation) as caught:
        rules.prepare(Draft(text="hello", surface=Surface.INSTAGRAM))
    assert caught.value.rule == rule


def test_an_unknown_duration_is_left_to_the_platform() -> None:
    video = item(VIDEO).model_copy(update={"duration_ms": None})
    assert XContentRules().prepare(Draft(text="t", media=(video,))).media == (video,)


def test_messages_name_the_item_and_the_excess() -> None:
    media = (item(), item(size=5 * MIB + 10))
    with pytest.raises(ContentRuleViolation) as caught:
        XContentRules().prepare(Draft(text="t", media=media))
    assert caught.value.message == (
        "x.image_size: media item 2 (image/jpeg) is 5242890 bytes (5.0 MB), 10 bytes over the 5 MB limit"
    )
    assert (caught.value.limit, caught.value.actual) == (5 * MIB, 5 * MIB + 10)


def test_a_thread_keeps_the_media_for_its_first_post() -> None:
    media = (item(),)
    post = XContentRules().prepare(Draft(text="word " * 100, media=media, over_length=OverLengthPolicy.THREAD))
    assert len(post.parts) > 1
    assert post.media == media
