"""Type detection and metadata parsing on real small files, and fuzzing: any bytes give an answer or a clean refusal."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from herald.contracts.media import MediaKind
from herald.media.imaging import image_info
from herald.media.isobmff import video_info
from herald.media.probing import Malformed, MediaInfo
from herald.media.sniffing import Format, Unsupported, sniff
from tests.media import samples

pytestmark = pytest.mark.fast


def probe_video(data: bytes) -> MediaInfo:
    async def read(offset: int, length: int) -> bytes:
        return data[offset : offset + length]

    return asyncio.run(video_info(read, len(data)))


@pytest.mark.parametrize(
    ("fmt", "expected", "kind", "content_type"),
    [
        ("JPEG", Format.JPEG, MediaKind.IMAGE, "image/jpeg"),
        ("PNG", Format.PNG, MediaKind.IMAGE, "image/png"),
        ("GIF", Format.GIF, MediaKind.GIF, "image/gif"),
        ("WEBP", Format.WEBP, MediaKind.IMAGE, "image/webp"),
        ("WEBP-LOSSLESS", Format.WEBP, MediaKind.IMAGE, "image/webp"),
    ],
)
def test_images_are_detected_and_measured(fmt: str, expected: Format, kind: MediaKind, content_type: str) -> None:
    data = samples.image(fmt, 123, 45)
    detected = sniff(data[:64])
    assert (detected.format, detected.kind, detected.content_type) == (expected, kind, content_type)
    assert image_info(detected.format, data) == MediaInfo(123, 45, None)


def test_a_jpeg_with_exif_before_the_frame_header_is_measured() -> None:
    plain = samples.image("JPEG", 640, 480)
    exif = b"\xff\xe1" + (2 + 6 + 3000).to_bytes(2, "big") + b"Exif\0\0" + b"\xff" * 3000
    data = plain[:2] + exif + plain[2:]
    assert image_info(Format.JPEG, data) == MediaInfo(640, 480)


def test_an_animated_gif_has_the_sum_of_its_frame_delays() -> None:
    data = samples.animated_gif(20, 10, [100, 250, 70])
    assert image_info(Format.GIF, data) == MediaInfo(20, 10, 420)


@pytest.mark.parametrize("version", [0, 1])
@pytest.mark.parametrize("moov_last", [True, False])
def test_an_mp4_is_measured_from_its_moov(version: int, moov_last: bool) -> None:
    data = samples.mp4(1920, 1080, timescale=600, duration=9000, moov_last=moov_last, version=version)
    detected = sniff(data[:64])
    assert (detected.format, detected.kind, detected.content_type) == (Format.MP4, MediaKind.VIDEO, "video/mp4")
    assert probe_video(data) == MediaInfo(1920, 1080, 15_000)


def test_a_quicktime_movie_is_detected() -> None:
    data = samples.mp4(brand=b"qt  ")
    assert sniff(data[:64]).content_type == "video/quicktime"
    assert probe_video(data).width == 1280


def test_a_movie_without_a_video_track_is_refused() -> None:
    ftyp = samples.box(b"ftyp", b"isom\0\0\0\0isom")
    moov = samples.box(b"moov", samples.mvhd(1000, 1000) + samples.track(b"soun", 0, 0))
    with pytest.raises(Malformed, match="no video track"):
        probe_video(ftyp + moov)


def test_a_movie_cut_before_its_moov_is_refused() -> None:
    data = samples.mp4(moov_last=True)
    with pytest.raises(Malformed, match="moov"):
        probe_video(data[:100])


@pytest.mark.parametrize(
    ("head", "named"),
    [
        (b"%PDF-1.7\n", "a PDF document"),
        (b"PK\x03\x04\x14\x00", "a ZIP archive"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00", "a HEIF/AVIF image"),
        (b"\x00\x00\x00\x18ftyp3gp4\x00\x00\x00\x00", "a 3GPP video"),
        (b"\x1a\x45\xdf\xa3\x01", "a Matroska/WebM video"),
        (b"BM\x00\x00", "a BMP image"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "an SVG/XML document"),
        (b"hello world\n", "plain text"),
        (b"", "an empty file"),
        (b"\x01\x02\x03\x04", "unrecognised bytes (starting 01 02 03 04)"),
    ],
)
def test_other_files_are_refused_naming_what_they_are(head: bytes, named: str) -> None:
    with pytest.raises(Unsupported) as refused:
        sniff(head)
    assert named in str(refused.value)
    assert refused.value.detected.startswith(named)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "WEBP"])
def test_truncated_images_are_refused_cleanly(fmt: str) -> None:
    data = samples.image(fmt, 50, 50)
    for cut in (0, 1, 2, 5, 11, 13, 20, 23):  # every format needs more than 23 bytes
        try:
            image_info(Format[fmt.split("-", maxsplit=1)[0]], data[:cut])
        except Malformed:
            continue
        raise AssertionError(f"{fmt} cut at {cut} bytes was accepted")


_heads = st.sampled_from(
    [b"", b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR", b"GIF89a", b"RIFF\0\0\0\0WEBPVP8 ",
     b"RIFF\0\0\0\0WEBPVP8L", b"RIFF\0\0\0\0WEBPVP8X", b"\x00\x00\x00\x14ftypisom\0\0\0\0isom"]
)  # fmt: skip


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(head=_heads, tail=st.binary(max_size=400))
def test_any_bytes_give_an_answer_or_a_clean_refusal(head: bytes, tail: bytes) -> None:
    data = head + tail
    try:
        detected = sniff(data[:64])
    except Unsupported:
        return
    try:
        info = probe_video(data) if detected.kind is MediaKind.VIDEO else image_info(detected.format, data)
    except Malformed:
        return
    assert info.width is None or info.width >= 1
    assert info.height is None or info.height >= 1
    assert info.duration_ms is None or info.duration_ms >= 0


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_mutated_real_files_give_an_answer_or_a_clean_refusal(data: st.DataObject) -> None:
    original = data.draw(
        st.sampled_from([samples.image("JPEG", 9, 7), samples.image("PNG", 9, 7), samples.animated_gif(5, 5, [10, 20]),
                         samples.image("WEBP", 9, 7), samples.mp4(32, 16)])
    )  # fmt: skip
    mutated = bytearray(original)
    for _ in range(data.draw(st.integers(1, 8))):
        position = data.draw(st.integers(0, len(mutated) - 1))
        mutated[position] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(mutated)))
    test_any_bytes_give_an_answer_or_a_clean_refusal.hypothesis.inner_test(b"", bytes(mutated[:cut]))  # type: ignore[attr-defined]
