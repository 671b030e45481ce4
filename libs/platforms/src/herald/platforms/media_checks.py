"""Checks shared by the platforms' media rules (``<platform>/media_rules.py``): size, duration, mixing, counting.

Each check raises :class:`MediaRuleViolation` (a :class:`~herald.platforms.base.ContentRuleViolation`) with the
rule's name, the limit and the actual value, and a message that names the item by position (1-based, the posting
order) and says by how much it is off. A duration or dimension the media service could not measure (``None``) is not
checked here: the platform is the judge at publish time, and refusing an item only because a number is missing would
refuse valid posts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from herald.contracts.media import MediaKind, MediaReference
from herald.platforms.base import ContentRuleViolation


class MediaRuleViolation(ContentRuleViolation):
    """A post's media break a platform rule (a :class:`ContentRuleViolation`, so callers that catch that still
    catch it; the scheduler tells it apart to name the ``media`` field instead of ``text``)."""


MIB: Final = 1024 * 1024
"""A "MB" in the platforms' upload limits: X's 5 MB image limit is 5,242,880 bytes (its own error message)."""


def describe(position: int, item: MediaReference) -> str:
    """``media item 2 (video/mp4)``: how a message names an item, by its 1-based posting position."""
    return f"media item {position} ({item.content_type})"


def megabytes(size: int) -> str:
    """A byte count as the platforms write limits, e.g. ``5 MB`` or ``15.4 MB`` (MiB)."""
    value = size / MIB
    return f"{value:.0f} MB" if value == int(value) else f"{value:.1f} MB"


def seconds(duration_ms: int) -> str:
    """Milliseconds as seconds, e.g. ``0.5 s`` or ``140 s``."""
    value = duration_ms / 1000
    return f"{value:g} s"


def check_count(rule: str, what: str, count: int, *, most: int, least: int = 0) -> None:
    """``least <= count <= most``, or a violation saying what the platform allows."""
    if count > most:
        raise MediaRuleViolation(
            rule, f"{rule}: {count} {what}, {count - most} over the limit of {most}", limit=most, actual=count
        )
    if count < least:
        raise MediaRuleViolation(rule, f"{rule}: {count} {what}, at least {least} needed", limit=least, actual=count)


def check_alone(rule: str, platform: str, media: Sequence[MediaReference], alone: frozenset[MediaKind]) -> None:
    """An item of a kind in ``alone`` (e.g. a video) must be the only item of the post."""
    if len(media) < 2:
        return
    for position, item in enumerate(media, start=1):
        if item.kind in alone:
            raise MediaRuleViolation(
                rule,
                f"{rule}: {describe(position, item)} is a {item.kind.value}; {platform} posts one {item.kind.value}"
                f" alone, not with other media ({len(media)} items given)",
                limit=1,
                actual=len(media),
            )


def check_size(rule: str, position: int, item: MediaReference, limit: int) -> None:
    """The item's size is at most ``limit`` bytes."""
    if item.size_bytes > limit:
        raise MediaRuleViolation(
            rule,
            f"{rule}: {describe(position, item)} is {item.size_bytes} bytes ({megabytes(item.size_bytes)}),"
            f" {item.size_bytes - limit} bytes over the {megabytes(limit)} limit",
            limit=limit,
            actual=item.size_bytes,
        )


def check_duration(rule: str, position: int, item: MediaReference, *, least_ms: int, most_ms: int) -> None:
    """A known duration lies in ``[least_ms, most_ms]``."""
    duration = item.duration_ms
    if duration is None:
        return
    if duration < least_ms:
        raise MediaRuleViolation(
            rule,
            f"{rule}: {describe(position, item)} runs {seconds(duration)}, shorter than the"
            f" {seconds(least_ms)} minimum",
            limit=least_ms,
            actual=duration,
        )
    if duration > most_ms:
        raise MediaRuleViolation(
            rule,
            f"{rule}: {describe(position, item)} runs {seconds(duration)}, {seconds(duration - most_ms)} over the"
            f" {seconds(most_ms)} maximum",
            limit=most_ms,
            actual=duration,
        )
