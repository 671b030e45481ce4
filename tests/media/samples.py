"""Small real media files made in the tests: images by Pillow, MP4/QuickTime built box by box (ISO/IEC 14496-12)."""

from __future__ import annotations

import io
import struct

from PIL import Image


def image(fmt: str, width: int = 40, height: int = 30, *, colour: tuple[int, int, int] = (200, 30, 60)) -> bytes:
    """An image of ``fmt`` (``JPEG``, ``PNG``, ``WEBP``, ``GIF``) with the given size; ``colour`` varies the bytes."""
    buffer = io.BytesIO()
    options = {"lossless": True} if fmt == "WEBP-LOSSLESS" else {}
    Image.new("RGB", (width, height), colour).save(buffer, format=fmt.split("-", maxsplit=1)[0], **options)
    return buffer.getvalue()


def animated_gif(width: int, height: int, delays_ms: list[int]) -> bytes:
    frames = [Image.new("RGB", (width, height), (i * 60 % 256, 20, 200)) for i in range(len(delays_ms))]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=delays_ms, loop=0)
    return buffer.getvalue()


def box(box_type: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), box_type) + payload


def mvhd(timescale: int, duration: int, *, version: int = 0) -> bytes:
    if version == 1:
        times = struct.pack(">QQIQ", 0, 0, timescale, duration)
    else:
        times = struct.pack(">IIII", 0, 0, timescale, duration)
    rest = struct.pack(">IH", 0x00010000, 0x0100) + b"\0" * 10 + b"\0" * 36 + b"\0" * 24 + struct.pack(">I", 2)
    return box(b"mvhd", bytes([version, 0, 0, 0]) + times + rest)


def tkhd(width: int, height: int, *, version: int = 0) -> bytes:
    times = struct.pack(">QQIIQ", 0, 0, 1, 0, 0) if version == 1 else struct.pack(">IIIII", 0, 0, 1, 0, 0)
    rest = b"\0" * 8 + b"\0" * 8 + b"\0" * 36 + struct.pack(">II", width << 16, height << 16)
    return box(b"tkhd", bytes([version, 0, 0, 3]) + times + rest)


def hdlr(handler: bytes) -> bytes:
    return box(b"hdlr", b"\0\0\0\0" + b"\0\0\0\0" + handler + b"\0" * 12 + b"\0")


def track(handler: bytes, width: int, height: int) -> bytes:
    return box(b"trak", tkhd(width, height) + box(b"mdia", hdlr(handler)))


def mp4(
    width: int = 1280,
    height: int = 720,
    *,
    timescale: int = 1000,
    duration: int = 5000,
    brand: bytes = b"isom",
    moov_last: bool = True,
    mdat_bytes: int = 64,
    version: int = 0,
    salt: bytes = b"",
) -> bytes:
    """A minimal ISO BMFF movie: ftyp, mdat, moov (mvhd, a sound track, then the video track), moov last by default."""
    ftyp = box(b"ftyp", brand + b"\0\0\0\0" + brand + b"mp41")
    mdat = box(b"mdat", salt + b"\0" * mdat_bytes)
    moov = box(
        b"moov", mvhd(timescale, duration, version=version) + track(b"soun", 0, 0) + track(b"vide", width, height)
    )
    return ftyp + (mdat + moov if moov_last else moov + mdat)
