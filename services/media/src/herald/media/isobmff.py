"""Dimensions and running time of an MP4/QuickTime file (ISO BMFF), read from its ``moov`` box.

Top-level boxes are walked by their headers only (``moov`` may come after ``mdat``, at the end of a large file), so
a 512 MiB video costs a few small range reads plus the ``moov`` box itself. Inside ``moov``: ``mvhd`` gives the
timescale and duration, and the first ``trak`` whose ``hdlr`` says ``vide`` gives the width and height from its
``tkhd`` (16.16 fixed point). Anything that does not add up raises
:class:`~herald.media.probing.Malformed`; no input makes the walker crash or loop.
"""

from __future__ import annotations

import struct
from collections.abc import Awaitable, Callable, Iterator

from herald.media.probing import Malformed, MediaInfo, positive

ReadRange = Callable[[int, int], Awaitable[bytes]]
"""``read(offset, length)``: up to ``length`` bytes of the file from ``offset`` (fewer at its end)."""

MAX_MOOV_BYTES = 64 * 1024 * 1024
"""A larger ``moov`` is refused rather than read into memory (real ones are kilobytes to a few megabytes)."""
MAX_TOP_LEVEL_BOXES = 10_000
_UNKNOWN_DURATION = (0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF)
_CONTAINERS = frozenset({b"trak", b"mdia", b"minf", b"stbl", b"edts", b"udta"})

What = "MP4"


async def video_info(read: ReadRange, size: int) -> MediaInfo:
    """Width, height and duration of the video of ``size`` bytes that ``read`` returns ranges of."""
    moov = await _find_moov(read, size)
    timescale = duration = None
    width = height = None
    for box_type, payload in _boxes(moov):
        if box_type == b"mvhd":
            timescale, duration = _mvhd(payload)
        elif box_type == b"trak" and width is None:
            width, height = _video_track(payload) or (None, None)
    if timescale is None:
        raise Malformed(What, "no movie header (mvhd)")
    if width is None or height is None:
        raise Malformed(What, "no video track")
    duration_ms = None if duration is None or timescale == 0 else duration * 1000 // timescale
    return MediaInfo(*positive(What, width, height), duration_ms=duration_ms)


async def _find_moov(read: ReadRange, size: int) -> bytes:
    offset = 0
    for _ in range(MAX_TOP_LEVEL_BOXES):
        if offset + 8 > size:
            break
        header = await read(offset, 16)
        if len(header) < 8:
            break
        box_size, box_type = struct.unpack_from(">I4s", header)
        header_size = 8
        if box_size == 1:
            if len(header) < 16:
                raise Malformed(What, f"truncated box header at byte {offset}")
            (box_size,) = struct.unpack_from(">Q", header, 8)
            header_size = 16
        elif box_size == 0:
            box_size = size - offset
        if box_size < header_size or offset + box_size > size:
            raise Malformed(What, f"box {box_type!r} at byte {offset} has an impossible size {box_size}")
        if box_type == b"moov":
            if box_size > MAX_MOOV_BYTES:
                raise Malformed(What, f"moov box of {box_size} bytes is too large")
            moov = await read(offset + header_size, box_size - header_size)
            if len(moov) != box_size - header_size:
                raise Malformed(What, "truncated moov box")
            return moov
        offset += box_size
    raise Malformed(What, "no moov box (the file is incomplete or not a movie)")


def _boxes(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    """The boxes directly inside ``data``: ``(type, payload)``."""
    pos = 0
    while pos + 8 <= len(data):
        box_size, box_type = struct.unpack_from(">I4s", data, pos)
        header_size = 8
        if box_size == 1:
            if pos + 16 > len(data):
                raise Malformed(What, "truncated box header")
            (box_size,) = struct.unpack_from(">Q", data, pos + 8)
            header_size = 16
        elif box_size == 0:
            box_size = len(data) - pos
        if box_size < header_size or pos + box_size > len(data):
            raise Malformed(What, f"box {box_type!r} has an impossible size {box_size}")
        yield box_type, data[pos + header_size : pos + box_size]
        pos += box_size


def _mvhd(payload: bytes) -> tuple[int, int | None]:
    if not payload:
        raise Malformed(What, "empty mvhd")
    if payload[0] == 1:
        if len(payload) < 32:
            raise Malformed(What, "truncated mvhd")
        timescale, duration = struct.unpack_from(">IQ", payload, 20)
    else:
        if len(payload) < 20:
            raise Malformed(What, "truncated mvhd")
        timescale, duration = struct.unpack_from(">II", payload, 12)
    return timescale, None if duration in _UNKNOWN_DURATION else duration


def _video_track(trak: bytes) -> tuple[int, int] | None:
    """``(width, height)`` of a video track, ``None`` for any other track (sound, hint, metadata)."""
    dimensions: tuple[int, int] | None = None
    handler: bytes | None = None
    for box_type, payload in _walk(trak):
        if box_type == b"tkhd":
            dimensions = _tkhd(payload)
        elif box_type == b"hdlr" and len(payload) >= 12:
            handler = payload[8:12]
    if handler != b"vide" or dimensions is None or dimensions[0] == 0:
        return None
    return dimensions


def _walk(data: bytes, depth: int = 0) -> Iterator[tuple[bytes, bytes]]:
    for box_type, payload in _boxes(data):
        yield box_type, payload
        if box_type in _CONTAINERS and depth < 8:
            yield from _walk(payload, depth + 1)


def _tkhd(payload: bytes) -> tuple[int, int]:
    # version 0: 4+4+4+4+4 bytes of times/ids, version 1: 8+8+4+4+8; then 8 reserved, 2+2+2+2, a 36-byte matrix
    offset = 4 + (32 if payload[:1] == b"\x01" else 20) + 8 + 8 + 36
    if len(payload) < offset + 8:
        raise Malformed(What, "truncated track header (tkhd)")
    width, height = struct.unpack_from(">II", payload, offset)
    return width >> 16, height >> 16
