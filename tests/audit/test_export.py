"""Export rendering: one JSON object per line, or CSV that spreadsheets cannot turn into formulas."""

import csv
import datetime as dt
import io
import json
import uuid
from collections.abc import AsyncIterator

from herald.audit.export import CSV_COLUMNS, ROWS_PER_CHUNK, ExportFormat, render
from herald.audit.models import StoredRecord

AT = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


def _row(correlation_id: str = "corr-1", **metadata: object) -> StoredRecord:
    return StoredRecord(
        event_id=str(uuid.uuid4()),
        occurred_at=AT,
        recorded_at=AT,
        event_type="com.herald.publish.succeeded.v1",
        source="/herald/publisher-x",
        team_id=uuid.uuid4(),
        actor="service:publisher-x",
        action="content_published",
        entity="ContentDistribution",
        entity_id="d-1",
        platform="x",
        correlation_id=correlation_id,
        metadata=dict(metadata),
    )


async def _rows(*rows: StoredRecord) -> AsyncIterator[StoredRecord]:
    for row in rows:
        yield row


async def _text(rows: AsyncIterator[StoredRecord], export_format: ExportFormat) -> tuple[str, int]:
    chunks = [chunk async for chunk in render(rows, export_format)]
    return "".join(chunks), len(chunks)


async def test_ndjson_is_one_object_per_line_in_chunks() -> None:
    rows = [_row(Title=f"t{i}") for i in range(ROWS_PER_CHUNK + 1)]
    text, chunks = await _text(_rows(*rows), ExportFormat.NDJSON)
    lines = [json.loads(line) for line in text.splitlines()]
    assert [line["metadata"]["Title"] for line in lines] == [f"t{i}" for i in range(ROWS_PER_CHUNK + 1)]
    assert chunks == 2  # streamed, not built in one piece
    assert lines[0]["occurred_at"] == "2026-01-02T03:04:05+00:00"


async def test_csv_has_a_header_json_metadata_and_no_formula_cells() -> None:
    text, _ = await _text(_rows(_row("=cmd|' /C calc'!A0", Title='Q1, "final"')), ExportFormat.CSV)
    reader = csv.reader(io.StringIO(text))
    header, row = next(reader), next(reader)
    assert tuple(header) == CSV_COLUMNS
    record = dict(zip(header, row, strict=True))
    assert record["correlation_id"] == "'=cmd|' /C calc'!A0"
    assert json.loads(record["metadata"]) == {"Title": 'Q1, "final"'}


async def test_an_empty_csv_export_still_has_its_header() -> None:
    text, _ = await _text(_rows(), ExportFormat.CSV)
    assert text == ",".join(CSV_COLUMNS) + "\r\n"
