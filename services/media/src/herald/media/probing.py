"""What the parsers report about a media file, and how they refuse one they cannot read."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MediaInfo:
    """Dimensions in pixels and, for video and animated GIF, the running time."""

    width: int | None
    height: int | None
    duration_ms: int | None = None


class Malformed(ValueError):
    """The bytes start like an accepted format but are not a readable file of it (truncated, corrupt)."""

    def __init__(self, what: str, problem: str) -> None:
        super().__init__(f"malformed {what}: {problem}")
        self.what = what
        self.problem = problem


def positive(what: str, width: int, height: int) -> tuple[int, int]:
    """Refuse zero dimensions (the platforms, and :class:`~herald.contracts.media.MediaReference`, need >= 1)."""
    if width < 1 or height < 1:
        raise Malformed(what, f"dimensions {width}x{height} are not positive")
    return width, height
