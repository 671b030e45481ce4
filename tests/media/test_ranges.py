"""Where a chunk goes (Content-Range / Upload-Offset), and what is kept of a client's file name."""

from __future__ import annotations

import pytest

from herald.media.api import clean_filename
from herald.media.errors import InvalidInput
from herald.media.ranges import ChunkRange, chunk_range

pytestmark = pytest.mark.fast


def test_a_content_range_places_the_chunk() -> None:
    assert chunk_range("bytes 0-9/100", None, 10, 100) == ChunkRange(0, 9, 100)
    last = chunk_range("bytes 90-99/100", None, 10, 100)
    assert last.final
    assert last.length == 10


def test_an_upload_offset_places_the_chunk_by_its_length() -> None:
    assert chunk_range(None, "40", 60, 100) == ChunkRange(40, 99, 100)


@pytest.mark.parametrize(
    ("content_range", "offset", "length", "where", "says"),
    [
        ("bytes=0-9/100", None, 10, "Content-Range", "expected"),
        ("bytes 0-9/*", None, 10, "Content-Range", "expected"),
        ("bytes 0-9/101", None, 10, "Content-Range", "differs from the declared size"),
        ("bytes 9-0/100", None, 10, "Content-Range", "before first byte"),
        ("bytes 0-19/100", None, 10, "Content-Range", "covers 20 bytes but the body has 10"),
        (None, "95", 10, "Content-Range", "past the declared size"),
        (None, "-1", 10, "Upload-Offset", "expected a byte offset"),
        (None, None, 10, "Content-Range", "Content-Range or Upload-Offset"),
        ("bytes 0-9/100", None, 0, "body", "empty"),
    ],
)
def test_wrong_ranges_are_refused_naming_the_header(
    content_range: str | None, offset: str | None, length: int, where: str, says: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        chunk_range(content_range, offset, length, 100)
    assert refused.value.loc[-1] == where
    assert says in refused.value.message


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("holiday.jpg", "holiday.jpg"),
        ("C:\\Users\\me\\clip.mp4", "clip.mp4"),
        ("../../etc/passwd", "passwd"),
        ("bad\x00name\x1f.png", "badname.png"),
        ("", None),
        (None, None),
        ("x" * 300, "x" * 255),
    ],
)
def test_only_the_printable_last_segment_of_a_file_name_is_kept(given: str | None, kept: str | None) -> None:
    assert clean_filename(given) == kept
