"""What a file is, from its first bytes only (magic numbers); never from its name or a declared type.

:func:`sniff` accepts the formats Herald publishes (JPEG, PNG, GIF, WebP, MP4/QuickTime) and refuses anything else
with :class:`Unsupported`, whose message names what the bytes look like ("a PDF document", "a HEIF/AVIF image"), so
the caller's 422 tells the user what they sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from herald.contracts.media import MediaKind

HEAD_BYTES = 64
"""How many leading bytes :func:`sniff` needs (fewer is fine: a short file is judged on what there is)."""


class Format(StrEnum):
    JPEG = "jpeg"
    PNG = "png"
    GIF = "gif"
    WEBP = "webp"
    MP4 = "mp4"
    QUICKTIME = "quicktime"


CONTENT_TYPES = {
    Format.JPEG: "image/jpeg",
    Format.PNG: "image/png",
    Format.GIF: "image/gif",
    Format.WEBP: "image/webp",
    Format.MP4: "video/mp4",
    Format.QUICKTIME: "video/quicktime",
}
KINDS = {
    Format.JPEG: MediaKind.IMAGE,
    Format.PNG: MediaKind.IMAGE,
    Format.WEBP: MediaKind.IMAGE,
    Format.GIF: MediaKind.GIF,
    Format.MP4: MediaKind.VIDEO,
    Format.QUICKTIME: MediaKind.VIDEO,
}

# ISO BMFF brands (ftyp major brand) of the video files Herald accepts. Other ISO BMFF files are refused by name:
# HEIF/AVIF are still images in the same container, 3GPP is a mobile video format the platforms do not take.
MP4_BRANDS = frozenset(
    {b"isom", b"iso2", b"iso3", b"iso4", b"iso5", b"iso6", b"iso7", b"iso8", b"iso9", b"mp41", b"mp42", b"mp71",
     b"avc1", b"M4V ", b"M4VH", b"M4VP", b"dash", b"f4v ", b"XAVC", b"MSNV", b"NDAS", b"hvc1", b"av01", b"mmp4"}
)  # fmt: skip
QUICKTIME_BRANDS = frozenset({b"qt  "})
IMAGE_BRANDS = frozenset(
    {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"avif", b"avis", b"jxl "}
)


@dataclass(frozen=True)
class Detected:
    """An accepted format, with the kind and MIME type it is recorded as."""

    format: Format

    @property
    def kind(self) -> MediaKind:
        return KINDS[self.format]

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.format]


class Unsupported(ValueError):
    """The bytes are not a format Herald accepts; ``detected`` says what they look like."""

    def __init__(self, detected: str) -> None:
        super().__init__(
            f"unsupported media type: detected {detected}; accepted are JPEG, PNG, GIF, WebP images and MP4/QuickTime"
            " videos"
        )
        self.detected = detected


_OTHERS: tuple[tuple[int, bytes, str], ...] = (
    (0, b"%PDF", "a PDF document"),
    (0, b"PK\x03\x04", "a ZIP archive (or an Office document)"),
    (0, b"\x1f\x8b", "a gzip archive"),
    (0, b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (0, b"Rar!", "a RAR archive"),
    (0, b"BM", "a BMP image"),
    (0, b"II*\x00", "a TIFF image"),
    (0, b"MM\x00*", "a TIFF image"),
    (0, b"\x00\x00\x01\x00", "an ICO icon"),
    (0, b"8BPS", "a Photoshop document"),
    (0, b"\xff\x0a", "a JPEG XL image"),
    (0, b"\x1a\x45\xdf\xa3", "a Matroska/WebM video"),
    (0, b"OggS", "an Ogg file"),
    (0, b"ID3", "an MP3 audio file"),
    (0, b"fLaC", "a FLAC audio file"),
    (0, b"FLV", "an FLV video"),
    (0, b"\x7fELF", "an ELF executable"),
    (0, b"MZ", "a Windows executable"),
    (0, b"\x00\x00\x01\xba", "an MPEG program stream"),
    (0, b"\x00\x00\x01\xb3", "an MPEG video stream"),
)


def sniff(head: bytes) -> Detected:
    """The accepted format ``head`` (the first :data:`HEAD_BYTES` bytes, or all of a shorter file) starts with.

    Raises :class:`Unsupported` naming what was detected otherwise.
    """
    if head.startswith(b"\xff\xd8\xff"):
        return Detected(Format.JPEG)
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return Detected(Format.PNG)
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return Detected(Format.GIF)
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return Detected(Format.WEBP)
    if head[4:8] == b"ftyp" and len(head) >= 12:
        brand = head[8:12]
        if brand in MP4_BRANDS:
            return Detected(Format.MP4)
        if brand in QUICKTIME_BRANDS:
            return Detected(Format.QUICKTIME)
        if brand in IMAGE_BRANDS:
            raise Unsupported(f"a HEIF/AVIF image (ISO BMFF brand {_printable(brand)!r})")
        if brand.startswith(b"3g"):
            raise Unsupported(f"a 3GPP video (ISO BMFF brand {_printable(brand)!r})")
        raise Unsupported(f"an ISO BMFF file of brand {_printable(brand)!r}")
    raise Unsupported(describe(head))


def describe(head: bytes) -> str:
    """Words for bytes that are not an accepted format (the refusal message)."""
    if not head:
        return "an empty file"
    if head[:4] == b"RIFF":
        kind = head[8:12]
        return {b"AVI ": "an AVI video", b"WAVE": "a WAV audio file"}.get(kind, "a RIFF file")
    for offset, magic, name in _OTHERS:
        if head[offset : offset + len(magic)] == magic:
            return name
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if stripped.startswith((b"<svg", b"<?xml")):
        return "an SVG/XML document"
    if stripped.startswith((b"<!doctype html", b"<html")):
        return "an HTML document"
    if all(32 <= byte < 127 or byte in b"\t\r\n" for byte in head):
        return "plain text"
    return f"unrecognised bytes (starting {head[:8].hex(' ')})"


def _printable(brand: bytes) -> str:
    return brand.decode("latin-1").encode("unicode_escape").decode()
