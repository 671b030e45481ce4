"""Dimensions (and GIF running time) of the still-image formats, parsed from the file's own headers.

JPEG: the SOFn segment (walking the marker segments). PNG: IHDR. GIF: the logical screen descriptor, then every
block to add up the frames' delays. WebP: the VP8 (lossy) frame header, the VP8L (lossless) header or the VP8X
(extended) canvas size. Every parser reads only within ``data`` and raises :class:`~herald.media.probing.Malformed`
on anything it cannot follow: no input makes it crash or loop.
"""

from __future__ import annotations

import struct

from herald.media.probing import Malformed, MediaInfo, positive
from herald.media.sniffing import Format

# SOFn markers carry the frame size; C4 (DHT), C8 (JPG extension) and CC (DAC) share the range but are not frames.
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM and RSTn have no length field


def image_info(fmt: Format, data: bytes) -> MediaInfo:
    """The dimensions of an image (and the running time of an animated GIF)."""
    match fmt:
        case Format.JPEG:
            return jpeg_info(data)
        case Format.PNG:
            return png_info(data)
        case Format.GIF:
            return gif_info(data)
        case Format.WEBP:
            return webp_info(data)
    raise ValueError(f"{fmt} is not an image format")


def jpeg_info(data: bytes) -> MediaInfo:
    if not data.startswith(b"\xff\xd8"):
        raise Malformed("JPEG", "no start-of-image marker")
    pos = 2
    while True:
        if pos >= len(data) or data[pos] != 0xFF:
            raise Malformed("JPEG", f"no frame header before byte {pos}")
        while pos < len(data) and data[pos] == 0xFF:  # fill bytes
            pos += 1
        if pos >= len(data):
            raise Malformed("JPEG", "truncated before the frame header")
        marker = data[pos]
        pos += 1
        if marker in _STANDALONE:
            continue
        if marker in (0xD9, 0xDA):
            raise Malformed("JPEG", "image data before any frame header")
        if pos + 2 > len(data):
            raise Malformed("JPEG", "truncated segment length")
        (length,) = struct.unpack_from(">H", data, pos)
        if length < 2:
            raise Malformed("JPEG", f"segment length {length} at byte {pos}")
        if marker in _SOF_MARKERS:
            if length < 7 or pos + 7 > len(data):
                raise Malformed("JPEG", "truncated frame header")
            height, width = struct.unpack_from(">HH", data, pos + 3)
            return MediaInfo(*positive("JPEG", width, height))
        pos += length


def png_info(data: bytes) -> MediaInfo:
    if len(data) < 24 or data[12:16] != b"IHDR":
        raise Malformed("PNG", "no IHDR chunk first")
    width, height = struct.unpack_from(">II", data, 16)
    if width > 2**31 - 1 or height > 2**31 - 1:
        raise Malformed("PNG", "dimensions out of range")
    return MediaInfo(*positive("PNG", width, height))


def gif_info(data: bytes) -> MediaInfo:
    """Screen size, and for an animation (more than one frame) the sum of the frames' delays."""
    if len(data) < 13:
        raise Malformed("GIF", "truncated logical screen descriptor")
    width, height = struct.unpack_from("<HH", data, 6)
    positive("GIF", width, height)
    packed = data[10]
    pos = 13 + (3 * 2 ** ((packed & 0x07) + 1) if packed & 0x80 else 0)
    frames = 0
    delay_cs = 0
    while pos < len(data):
        block = data[pos]
        if block == 0x3B:  # trailer
            break
        if block == 0x21:  # extension: label, then sub-blocks
            if pos + 2 > len(data):
                raise Malformed("GIF", "truncated extension")
            if data[pos + 1] == 0xF9 and pos + 8 <= len(data) and data[pos + 2] == 4:
                delay_cs += struct.unpack_from("<H", data, pos + 4)[0]
            pos = _skip_sub_blocks(data, pos + 2)
        elif block == 0x2C:  # image descriptor (9 bytes), optional local colour table, LZW code size, data
            if pos + 10 > len(data):
                raise Malformed("GIF", "truncated image descriptor")
            local = data[pos + 9]
            pos += 10 + (3 * 2 ** ((local & 0x07) + 1) if local & 0x80 else 0)
            pos = _skip_sub_blocks(data, pos + 1)  # + 1: the LZW minimum code size
            frames += 1
        else:
            raise Malformed("GIF", f"unknown block 0x{block:02x} at byte {pos}")
    if frames == 0:
        raise Malformed("GIF", "no image")
    return MediaInfo(width, height, delay_cs * 10 if frames > 1 else None)


def _skip_sub_blocks(data: bytes, pos: int) -> int:
    while True:
        if pos >= len(data):
            raise Malformed("GIF", "truncated data sub-blocks")
        size = data[pos]
        pos += 1 + size
        if size == 0:
            return pos


def webp_info(data: bytes) -> MediaInfo:
    if len(data) < 30 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise Malformed("WebP", "truncated RIFF header")
    chunk = data[12:16]
    body = data[20:]
    if chunk == b"VP8 ":
        if body[3:6] != b"\x9d\x01\x2a":
            raise Malformed("WebP", "no VP8 start code")
        width, height = struct.unpack_from("<HH", body, 6)
        return MediaInfo(*positive("WebP", width & 0x3FFF, height & 0x3FFF))
    if chunk == b"VP8L":
        if body[0] != 0x2F:
            raise Malformed("WebP", "no VP8L signature")
        (bits,) = struct.unpack_from("<I", body, 1)
        return MediaInfo((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
    if chunk == b"VP8X":
        width = int.from_bytes(body[4:7], "little") + 1
        height = int.from_bytes(body[7:10], "little") + 1
        return MediaInfo(width, height)
    raise Malformed("WebP", f"unknown first chunk {chunk!r}")
