"""Where a resumable upload's chunk goes: ``Content-Range: bytes a-b/total`` (or ``Upload-Offset: a``)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from herald.media.errors import InvalidInput

_CONTENT_RANGE = re.compile(r"^bytes (\d{1,15})-(\d{1,15})/(\d{1,15})$")


@dataclass(frozen=True)
class ChunkRange:
    """Bytes ``start`` to ``end`` (inclusive) of a file of ``total`` bytes."""

    start: int
    end: int
    total: int

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    @property
    def final(self) -> bool:
        return self.end + 1 == self.total


def chunk_range(content_range: str | None, upload_offset: str | None, length: int, total: int) -> ChunkRange:
    """The range a PUT of ``length`` body bytes claims, checked against itself and the upload's declared ``total``."""
    if length == 0:
        raise InvalidInput(("body",), "the chunk is empty")
    if content_range is not None:
        match = _CONTENT_RANGE.match(content_range.strip())
        if match is None:
            raise InvalidInput(("header", "Content-Range"), "expected 'bytes <first>-<last>/<total>'")
        start, end, claimed_total = (int(group) for group in match.groups())
        if claimed_total != total:
            raise InvalidInput(
                ("header", "Content-Range"), f"total {claimed_total} differs from the declared size {total}"
            )
        if end < start:
            raise InvalidInput(("header", "Content-Range"), f"last byte {end} is before first byte {start}")
        if end - start + 1 != length:
            raise InvalidInput(
                ("header", "Content-Range"), f"the range covers {end - start + 1} bytes but the body has {length}"
            )
    elif upload_offset is not None:
        if not upload_offset.strip().isdigit() or len(upload_offset.strip()) > 15:
            raise InvalidInput(("header", "Upload-Offset"), "expected a byte offset")
        start = int(upload_offset)
        end = start + length - 1
    else:
        raise InvalidInput(("header", "Content-Range"), "say where the chunk goes: Content-Range or Upload-Offset")
    if end >= total:
        raise InvalidInput(("header", "Content-Range"), f"the chunk ends at byte {end}, past the declared size {total}")
    return ChunkRange(start, end, total)
