"""Real JPEG files of a chosen size, made without an imaging library (the benchmark and ``make demo`` upload them).

A baseline, 8-bit, one-component (greyscale) JPEG of ``width x height`` in one flat shade: every 8x8 block has the
same DC coefficient, so its entropy-coded scan is tiny (a few bits per block, with Huffman tables of two DC codes and
one AC code, the end-of-block). The file is brought to ``size_bytes`` with comment (COM) segments of random bytes:
decoders skip comments, so it stays a valid image of the same pixels, and the random filler makes every file
distinct (the media service deduplicates identical bytes within a team) and incompressible (an upload moves all of
its bytes). Layout: SOI, COM filler, DQT, SOF0, DHT (DC, AC), SOS, scan, EOI.

``python3 -m bench.jpeg 1080 1080 [--bytes N] [--shade 0-255] > photo.jpg`` writes one (the README's curl journey).
"""

from __future__ import annotations

import argparse
import random
import struct
import sys

SOI, EOI = b"\xff\xd8", b"\xff\xd9"
MAX_SEGMENT_PAYLOAD = 65_533
"""A segment's 16-bit length counts itself (2 bytes), so a payload is at most 65,535 - 2 bytes."""
_DC_CLASS, _AC_CLASS = 0x00, 0x10


def jpeg(width: int, height: int, *, size_bytes: int = 0, shade: int = 128, seed: int = 0) -> bytes:
    """A valid JPEG of ``width x height`` pixels of grey level ``shade`` (0-255), padded to exactly ``size_bytes``
    when that is larger than the bare image (else returned bare). ``seed`` picks the filler's random bytes."""
    if not (1 <= width <= 65_535 and 1 <= height <= 65_535):
        raise ValueError("width and height must be within 1..65535")
    if not 0 <= shade <= 255:
        raise ValueError("shade must be within 0..255")
    dc = 8 * (shade - 128)  # the forward DCT's (0, 0) coefficient of a flat 8x8 block of this level
    category = abs(dc).bit_length()
    body = _dqt() + _sof0(width, height) + _dht(category) + _sos() + _scan(width, height, dc, category) + EOI
    bare = len(SOI) + len(body)
    return SOI + _filler(size_bytes - bare, seed) + body


def dimensions(data: bytes) -> tuple[int, int]:
    """``(width, height)`` from the SOF0 segment (what the media service records), walking the segments."""
    if not data.startswith(SOI):
        raise ValueError("not a JPEG: no SOI marker")
    at = 2
    while at + 4 <= len(data):
        if data[at] != 0xFF:
            raise ValueError(f"no marker at byte {at}")
        marker = data[at + 1]
        (length,) = struct.unpack(">H", data[at + 2 : at + 4])
        if marker == 0xC0:
            height, width = struct.unpack(">HH", data[at + 5 : at + 9])
            return width, height
        at += 2 + length
    raise ValueError("no SOF0 segment")


def _segment(marker: int, payload: bytes) -> bytes:
    return bytes((0xFF, marker)) + struct.pack(">H", len(payload) + 2) + payload


def _filler(room: int, seed: int) -> bytes:
    """Comment segments of random bytes adding exactly ``room`` bytes (nothing if ``room`` < 4, a segment's
    smallest size; a remainder under 4 is absorbed by shortening the previous segment)."""
    if room < 4:
        return b""
    rng = random.Random(seed)  # noqa: S311 - filler, not a secret
    sizes: list[int] = []
    left = room
    while left > 0:
        take = min(left, MAX_SEGMENT_PAYLOAD + 4)
        if 0 < left - take < 4:  # the next segment would be too short to exist: leave it room
            take = left - 4
        sizes.append(take)
        left -= take
    return b"".join(_segment(0xFE, rng.randbytes(size - 4)) for size in sizes)


def _dqt() -> bytes:
    # Table 0, 8-bit precision, every step 1: the DC coefficient is stored as computed.
    return _segment(0xDB, b"\x00" + b"\x01" * 64)


def _sof0(width: int, height: int) -> bytes:
    # 8-bit samples, one component (id 1, 1x1 sampling, quantisation table 0).
    return _segment(0xC0, struct.pack(">BHHB", 8, height, width, 1) + b"\x01\x11\x00")


def _dht(category: int) -> bytes:
    # DC table 0: two codes of 2 bits, "00" -> category 0 (difference 0) and "01" -> the first block's category.
    # AC table 0: one code of 1 bit, "0" -> 0x00 (end of block).
    dc = bytes([_DC_CLASS, 0, 2, *([0] * 14)]) + bytes([0, category or 1])
    ac = bytes([_AC_CLASS | 0, 1, *([0] * 15)]) + bytes([0x00])
    return _segment(0xC4, dc + ac)


def _sos() -> bytes:
    # One component (id 1, DC table 0, AC table 0), spectral selection 0..63, no successive approximation.
    return _segment(0xDA, b"\x01\x01\x00\x00\x3f\x00")


def _scan(width: int, height: int, dc: int, category: int) -> bytes:
    """Every block: the DC difference (the first block's level, then 0) and an end-of-block."""
    blocks = ((width + 7) // 8) * ((height + 7) // 8)
    bits = _Bits()
    if dc == 0:
        bits.put(0b00, 2)
    else:
        bits.put(0b01, 2)
        # ``category`` bits: the value itself, or for a negative one value - 1 in that many bits (ones' complement).
        bits.put(dc if dc > 0 else (dc - 1) & ((1 << category) - 1), category)
    bits.put(0, 1)
    for _ in range(blocks - 1):
        bits.put(0b000, 3)  # DC difference 0 ("00"), end of block ("0")
    return bits.flush()


class _Bits:
    """An entropy-coded segment: bits packed most significant first, 0xFF stuffed, the last byte padded with 1s."""

    def __init__(self) -> None:
        self.out = bytearray()
        self.acc = 0
        self.count = 0

    def put(self, value: int, length: int) -> None:
        self.acc = (self.acc << length) | (value & ((1 << length) - 1))
        self.count += length
        while self.count >= 8:
            self.count -= 8
            self._byte((self.acc >> self.count) & 0xFF)
        self.acc &= (1 << self.count) - 1

    def flush(self) -> bytes:
        if self.count:
            pad = 8 - self.count
            self.put((1 << pad) - 1, pad)
        return bytes(self.out)

    def _byte(self, byte: int) -> None:
        self.out.append(byte)
        if byte == 0xFF:
            self.out.append(0x00)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.jpeg", description="Write a JPEG to stdout.")
    parser.add_argument("width", type=int)
    parser.add_argument("height", type=int)
    parser.add_argument("--bytes", type=int, default=0, help="pad the file to this size")
    parser.add_argument("--shade", type=int, default=128, help="grey level, 0-255")
    parser.add_argument("--seed", type=int, default=0, help="picks the padding's random bytes")
    args = parser.parse_args(argv)
    sys.stdout.buffer.write(jpeg(args.width, args.height, size_bytes=args.bytes, shade=args.shade, seed=args.seed))


if __name__ == "__main__":
    main()
