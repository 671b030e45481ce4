"""The audit query API (team API keys): list and filter events, one distribution's timeline, streaming export.

No ``from __future__ import annotations`` here: FastAPI must evaluate the route annotations, which use closures.
"""

import datetime as dt
import logging
import uuid
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict

from herald.audit.export import ExportFormat, guarded, render
from herald.audit.models import Action
from herald.audit.repository import EventFilter
from herald.audit.service import AuditQueries, DistributionNotFound, InvalidCursor
from herald.contracts.platform import Platform
from herald.kit.api import TEAM_API_RESPONSES
from herald.kit.auth import ApiKeyStore, TeamPrincipal, team_principal
from herald.kit.validation import ApiDatetime

log = logging.getLogger(__name__)


class Order(StrEnum):
    ASC = "asc"
    DESC = "desc"


class AuditEventOut(BaseModel):
    """One audit row."""

    model_config = ConfigDict(from_attributes=True)

    event_id: str
    event_type: str
    occurred_at: dt.datetime
    recorded_at: dt.datetime
    team_id: uuid.UUID | None
    actor: str
    action: str
    entity: str
    entity_id: str
    platform: str | None
    correlation_id: str
    source: str
    metadata: dict[str, Any]


class EventPageOut(BaseModel):
    items: list[AuditEventOut]
    next_cursor: str | None
    """Pass as ``cursor`` to get the next page; ``null`` on the last page."""


class TimelineOut(BaseModel):
    distribution_id: uuid.UUID
    items: list[AuditEventOut]


def _invalid(field: str, message: str, value: object) -> RequestValidationError:
    return RequestValidationError([{"type": "value_error", "loc": ("query", field), "msg": message, "input": value}])


def event_filters(
    entity_id: Annotated[str | None, Query(min_length=1, max_length=255)] = None,
    action: Annotated[Action | None, Query()] = None,
    platform: Annotated[Platform | None, Query()] = None,
    since: Annotated[ApiDatetime | None, Query(description="Inclusive, RFC 3339 with offset")] = None,
    until: Annotated[ApiDatetime | None, Query(description="Exclusive, RFC 3339 with offset")] = None,
) -> EventFilter:
    """The filters shared by listing and export; 422 names the field that is wrong."""
    if since is not None and until is not None and until <= since:
        raise _invalid("until", "until must be later than since", until.isoformat())
    return EventFilter(
        entity_id=entity_id,
        action=None if action is None else action.value,
        platform=None if platform is None else platform.value,
        since=since,
        until=until,
    )


Filters = Annotated[EventFilter, Depends(event_filters)]


def audit_router(queries: AuditQueries, api_keys: ApiKeyStore, *, max_limit: int) -> APIRouter:
    """The ``/v1/audit`` routes, authenticated by team API keys and scoped to the caller's team."""
    router = APIRouter(prefix="/v1/audit", tags=["audit"], responses=TEAM_API_RESPONSES)
    principal_dependency = team_principal(api_keys)
    Principal = Annotated[TeamPrincipal, Depends(principal_dependency)]
    default_limit = min(100, max_limit)

    @router.get("/events")
    async def list_events(
        principal: Principal,
        filters: Filters,
        cursor: Annotated[str | None, Query(max_length=1000)] = None,
        limit: Annotated[int, Query(ge=1, le=max_limit)] = default_limit,
        order: Order = Order.DESC,
    ) -> EventPageOut:
        """The team's audit events, newest first by default, ``limit`` at a time (keyset pagination)."""
        try:
            page = await queries.events(
                principal.team_id, filters, cursor=cursor, limit=limit, descending=order is Order.DESC
            )
        except InvalidCursor as error:
            raise _invalid("cursor", str(error), cursor) from error
        items = [AuditEventOut.model_validate(row) for row in page.items]
        return EventPageOut(items=items, next_cursor=page.next_cursor)

    @router.get("/distributions/{distribution_id}/timeline")
    async def timeline(principal: Principal, distribution_id: uuid.UUID) -> TimelineOut:
        """Every step of one distribution (scheduled, requested, each attempt and retry, the outcome), in order."""
        try:
            rows = await queries.timeline(principal.team_id, distribution_id)
        except DistributionNotFound as error:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no audit events for this distribution") from error
        return TimelineOut(distribution_id=distribution_id, items=[AuditEventOut.model_validate(r) for r in rows])

    @router.get(
        "/export",
        response_class=StreamingResponse,
        responses={
            200: {
                "description": "The events, oldest first. If the export fails after it started, its last line says"
                " so (NDJSON: an object with `error`; CSV: a line starting `#error`) and the transfer is aborted.",
                "content": {
                    "application/x-ndjson": {"schema": {"type": "string"}},
                    "text/csv": {"schema": {"type": "string"}},
                },
            },
            503: {"description": "The audit log could not be read; nothing was sent. Retry later."},
        },
    )
    async def export(
        principal: Principal,
        filters: Filters,
        export_format: Annotated[ExportFormat, Query(alias="format")] = ExportFormat.NDJSON,
    ) -> StreamingResponse:
        """Every matching event of the team, oldest first, streamed as NDJSON or CSV."""
        chunks = render(queries.export(principal.team_id, filters), export_format)
        try:
            # The first chunk holds the first page of rows: a failure to read it is a status, not a cut body.
            first = await anext(chunks, "")
        except Exception as error:
            log.exception("audit export failed before its first byte")
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE, detail="the audit log could not be read; retry later"
            ) from error
        return StreamingResponse(
            guarded(first, chunks, export_format),
            media_type=export_format.media_type,
            headers={"Content-Disposition": f'attachment; filename="herald-audit.{export_format.value}"'},
        )

    return router
