"""Export formats of the audit log: NDJSON (one JSON object per line) and CSV (one row per event)."""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import AsyncIterator
from enum import StrEnum
from typing import Final

from herald.audit.models import StoredRecord

CSV_COLUMNS: Final = (
    "event_id",
    "event_type",
    "occurred_at",
    "recorded_at",
    "team_id",
    "actor",
    "action",
    "entity",
    "entity_id",
    "platform",
    "correlation_id",
    "source",
    "metadata",
)
_FORMULA_PREFIXES: Final = ("=", "+", "-", "@", "\t", "\r")
ROWS_PER_CHUNK: Final = 200
INCOMPLETE: Final = (
    "the export failed before its end and is incomplete; retry it (e.g. from the last occurred_at received)"
)

log = logging.getLogger(__name__)


class ExportFormat(StrEnum):
    NDJSON = "ndjson"
    CSV = "csv"

    @property
    def media_type(self) -> str:
        return "application/x-ndjson" if self is ExportFormat.NDJSON else "text/csv; charset=utf-8"


def _csv_cell(value: object) -> str:
    text = "" if value is None else json.dumps(value, separators=(",", ":")) if isinstance(value, dict) else str(value)
    # Spreadsheets run cells starting with these as formulas (CSV injection); a leading quote keeps them text.
    return f"'{text}" if text.startswith(_FORMULA_PREFIXES) else text


def _csv_line(values: list[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(values)
    return buffer.getvalue()


async def render(rows: AsyncIterator[StoredRecord], export_format: ExportFormat) -> AsyncIterator[str]:
    """Stream ``rows`` in ``export_format``, a chunk of lines at a time."""
    chunk: list[str] = []
    if export_format is ExportFormat.CSV:
        chunk.append(_csv_line(list(CSV_COLUMNS)))
    async for row in rows:
        item = row.as_json()
        if export_format is ExportFormat.NDJSON:
            chunk.append(json.dumps(item, separators=(",", ":"), ensure_ascii=False) + "\n")
        else:
            chunk.append(_csv_line([_csv_cell(item[column]) for column in CSV_COLUMNS]))
        if len(chunk) >= ROWS_PER_CHUNK:
            yield "".join(chunk)
            chunk.clear()
    if chunk:
        yield "".join(chunk)


def error_line(export_format: ExportFormat) -> str:
    """The last line of an export that failed after it started: the client sees that it is incomplete."""
    if export_format is ExportFormat.NDJSON:
        return json.dumps({"error": "export_incomplete", "message": INCOMPLETE}) + "\n"
    return f"#error: {INCOMPLETE}\r\n"


async def guarded(first: str, chunks: AsyncIterator[str], export_format: ExportFormat) -> AsyncIterator[str]:
    """``first`` then ``chunks``; a failure midway ends the body with :func:`error_line`, then aborts the transfer
    (so a client that ignores the line still sees an incomplete response rather than a clean end)."""
    yield first
    try:
        async for chunk in chunks:
            yield chunk
    except Exception:
        log.exception("audit export failed midway; the client is told it is incomplete")
        yield error_line(export_format)
        raise
