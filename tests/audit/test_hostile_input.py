"""Hostile input at the audit API: numbers and edge instants as date-times, NUL in filters, forged cursors; and an
export that fails after it started says so instead of ending as if complete."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any, cast

import httpx
import pytest
from fastapi import FastAPI

from herald.audit.api import audit_router
from herald.audit.export import ExportFormat, guarded
from herald.audit.models import StoredRecord
from herald.audit.repository import AuditRepository, EventFilter
from herald.audit.service import AuditQueries
from herald.kit import db
from herald.kit.api import install_api_defaults
from herald.kit.auth import IDENTITY_SCHEMA, ApiKeyStore
from herald.kit.settings import ServiceSettings
from tests.audit.conftest import RunningAudit, TeamKey

EDGE_INSTANTS = ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00", "9999-06-01T00:00:00Z"]


async def _get(audit: RunningAudit, path: str, key: str, **params: Any) -> httpx.Response:
    async with httpx.AsyncClient(base_url=audit.url, timeout=10) as client:
        return await client.get(path, params=params, headers={"Authorization": f"Bearer {key}"})


def _cursor(payload: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


@pytest.mark.parametrize("path", ["/v1/audit/events", "/v1/audit/export"])
async def test_date_times_must_be_rfc3339_and_in_range(audit: RunningAudit, new_team: TeamKey, path: str) -> None:
    _, key = await new_team()
    assert (await _get(audit, path, key, since="2030-01-01T00:00:00Z")).status_code == 200
    for bad in ["1700000000", "0", *EDGE_INSTANTS]:
        response = await _get(audit, path, key, since=bad)
        assert response.status_code == 422, (bad, response.text)
        assert response.json()["detail"][0]["loc"] == ["query", "since"]


async def test_nul_in_a_filter_and_forged_cursors_are_a_422(audit: RunningAudit, new_team: TeamKey) -> None:
    _, key = await new_team()
    nul = await _get(audit, "/v1/audit/events", key, entity_id="a\x00b")
    assert nul.status_code == 422
    assert nul.json()["detail"][0]["loc"] == ["query", "entity_id"]
    forged = [
        {"at": "0001-01-01T00:00:00+05:00", "id": "x", "desc": True},
        {"at": "9999-12-31T23:59:59-05:00", "id": "x", "desc": True},
        {"at": "2030-01-01T00:00:00+00:00", "id": "a\u0000b", "desc": True},
        {"at": "2030-01-01T00:00:00", "id": "x", "desc": True},
        ["not", "an", "object"],
    ]
    for payload in forged:
        response = await _get(audit, "/v1/audit/events", key, cursor=_cursor(payload))
        assert response.status_code == 422, (payload, response.text)
        assert response.json()["detail"][0]["loc"] == ["query", "cursor"]


async def _failing_after(chunks: list[str]) -> AsyncIterator[str]:
    for chunk in chunks:
        yield chunk
    raise ConnectionResetError("the database went away")


@pytest.mark.parametrize("export_format", list(ExportFormat))
async def test_an_export_failing_midway_ends_with_an_error_line_then_aborts(export_format: ExportFormat) -> None:
    received: list[str] = []

    async def consume() -> None:
        async for chunk in guarded("first\n", _failing_after(["second\n"]), export_format):
            received.append(chunk)

    with pytest.raises(ConnectionResetError):
        await consume()
    assert received[:2] == ["first\n", "second\n"]
    last = received[-1]
    if export_format is ExportFormat.NDJSON:
        assert json.loads(last)["error"] == "export_incomplete"
    else:
        assert last.startswith("#error: ")


async def test_the_openapi_document_lists_the_errors_the_api_answers(audit: RunningAudit) -> None:
    async with httpx.AsyncClient(base_url=audit.url, timeout=10) as client:
        schema = (await client.get("/openapi.json")).json()
    for operation in (schema["paths"]["/v1/audit/events"]["get"], schema["paths"]["/v1/audit/export"]["get"]):
        assert {"401", "422"} <= set(operation["responses"])
    timeline = schema["paths"]["/v1/audit/distributions/{distribution_id}/timeline"]["get"]
    assert {"401", "404", "422"} <= set(timeline["responses"])
    assert list(schema["paths"]["/metrics"]["get"]["responses"]["200"]["content"]) == ["text/plain"]


class _UnreadableLog(AuditQueries):
    """Our own query object whose first export page fails (the database went away between auth and the export)."""

    def __init__(self) -> None:
        super().__init__(cast(AuditRepository, None), export_page_size=50)

    async def export(self, team_id: uuid.UUID, filters: EventFilter) -> AsyncIterator[StoredRecord]:
        raise ConnectionResetError("the database went away")
        yield  # pragma: no cover - makes this an async generator


async def test_an_export_that_cannot_start_answers_503_before_any_byte(database_url: str, new_team: TeamKey) -> None:
    _, key = await new_team()
    engine = db.create_engine(ServiceSettings(database_url=database_url), IDENTITY_SCHEMA, pool_size=1)
    app = FastAPI()
    install_api_defaults(app)
    app.include_router(audit_router(_UnreadableLog(), ApiKeyStore(engine), max_limit=100))
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://audit") as client:
            response = await client.get("/v1/audit/export", headers={"Authorization": f"Bearer {key}"})
    finally:
        await engine.dispose()
    assert response.status_code == 503
    assert response.json() == {"detail": "the audit log could not be read; retry later"}
