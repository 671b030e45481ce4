"""The scheduler's HTTP API (``/v1``): thin routes that parse, call the use case and map its errors.

Every route here is authenticated with a team API key (``Authorization: Bearer hk_...``) and sees only that team's
data: another team's ids answer 404 (the admin routes, protected by the bootstrap secret, are in
:mod:`herald.kit.admin`). Bad input answers 422 with FastAPI's shape,
``{"detail": [{"loc": ["body", "<field>"], "msg": "...", "type": "..."}]}``, whether pydantic or a use case found
the problem.
"""

import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from herald.contracts.platform import Platform
from herald.kit.auth import ApiKeyStore, ServicePrincipal, TeamPrincipal, team_principal
from herald.kit.validation import ApiDatetime
from herald.scheduler.errors import Conflict, InvalidField, InvalidItems, NotFound, SchedulerError, Unavailable
from herald.scheduler.models import DistributionStatus
from herald.scheduler.repository import DistributionFilter
from herald.scheduler.schemas import (
    BulkScheduleIn,
    BulkScheduleOut,
    ContentOut,
    ContentPatchIn,
    DistributionDetailOut,
    DistributionOut,
    DistributionPageOut,
    HolderOut,
    HoldersOut,
    MediaItemIn,
    NewContentIn,
    ProblemsOut,
    ReasonIn,
    ScheduleIn,
    TimeIn,
)
from herald.scheduler.service import ContentChanges, MediaChoice, NewContent, ScheduleCommand, Scheduler

ERRORS: dict[int | str, dict[str, str]] = {
    401: {"description": "Missing, invalid or revoked API key."},
    404: {"description": "No such resource for this team."},
    409: {"description": "The resource's state does not allow this."},
    422: {"description": "Invalid input; `detail[].loc` names the field."},
}
MEDIA_ERRORS: dict[int | str, dict[str, str]] = {
    503: {"description": "The media service cannot check the media ids now; retry after `Retry-After` seconds."},
}
MEDIA_SERVICE = "media"
"""The one service allowed on the internal API."""


def router(scheduler: Scheduler, api_keys: ApiKeyStore, *, max_page_size: int) -> APIRouter:
    """The team API."""
    api = APIRouter(prefix="/v1", responses=ERRORS)
    Principal = Annotated[TeamPrincipal, Depends(team_principal(api_keys))]

    @api.post("/contents", status_code=status.HTTP_201_CREATED, tags=["content"], responses=MEDIA_ERRORS)
    async def create_content(body: NewContentIn, who: Principal) -> ContentOut:
        """Create a draft content item, with up to 10 media items (uploaded to the media service first)."""
        new = NewContent(body.title, body.text, body.link, _media(body.media))
        return ContentOut.of(await scheduler.create_content(who, new))

    @api.get("/contents/{content_id}", tags=["content"])
    async def get_content(content_id: uuid.UUID, who: Principal) -> ContentOut:
        return ContentOut.of(await scheduler.get_content(who.team_id, content_id))

    @api.patch("/contents/{content_id}", tags=["content"], responses=MEDIA_ERRORS)
    async def update_content(content_id: uuid.UUID, body: ContentPatchIn, who: Principal) -> ContentOut:
        """Edit content not yet sent to a publisher. Editing approved content withdraws its approval (only what
        was approved is published); the new text and media are checked against the rules of its scheduled
        platforms (and surfaces)."""
        changes = ContentChanges(
            body.title,
            body.text,
            body.link,
            link_set="link" in body.model_fields_set,
            media=None if body.media is None else _media(body.media),
        )
        return ContentOut.of(await scheduler.update_content(who, content_id, changes))

    @api.post("/contents/{content_id}/approve", tags=["content"])
    async def approve(content_id: uuid.UUID, who: Principal) -> ContentOut:
        """Approve content (idempotent): its distributions are published when due."""
        return ContentOut.of(await scheduler.approve(who, content_id))

    @api.post("/contents/{content_id}/withdraw-approval", tags=["content"])
    async def withdraw_approval(content_id: uuid.UUID, who: Principal, body: ReasonIn | None = None) -> ContentOut:
        """Withdraw approval (idempotent). Scheduled distributions are held until the content is approved again;
        distributions already handed to a publisher are cancelled (``DistributionCancelled``)."""
        return ContentOut.of(await scheduler.withdraw_approval(who, content_id, body.reason if body else None))

    @api.post("/contents/{content_id}/archive", tags=["content"])
    async def archive(content_id: uuid.UUID, who: Principal) -> ContentOut:
        """Archive content (idempotent), cancelling its distributions that have not been published."""
        return ContentOut.of(await scheduler.archive(who, content_id))

    @api.post(
        "/distributions",
        status_code=status.HTTP_201_CREATED,
        tags=["distributions"],
        response_model=DistributionOut,
        responses=MEDIA_ERRORS,
    )
    async def schedule(body: ScheduleIn, who: Principal) -> Response:
        """Schedule content on one account. Checked now: the zone and DST, the account (this team's, on this
        platform, connected), the platform's content and media rules (on the account's surface), that the
        content's media still exist, and that the time is not further in the past than the misfire policy allows."""
        return _created(DistributionOut.of(await scheduler.schedule(who, _command(body))))

    @api.post(
        "/distributions/bulk",
        status_code=status.HTTP_201_CREATED,
        tags=["distributions"],
        response_model=BulkScheduleOut,
        responses={
            422: {"model": ProblemsOut, "description": "Nothing was scheduled; `detail` names each problem."},
            **MEDIA_ERRORS,
        },
    )
    async def schedule_bulk(body: BulkScheduleIn, who: Principal) -> Response:
        """Schedule many distributions in one request, all or none (e.g. one content item to many accounts, each
        at its own time or at the same local time in each account's zone). Each item is checked like
        `POST /v1/distributions`; if any fails, the answer is a 422 naming every failing item
        (`detail[].loc` = `["body", "items", <index>, "<field>"]`) and nothing is scheduled. Otherwise the
        distributions are created in one transaction, with a `DistributionScheduled` event each, and returned in
        the order of the items."""
        created = await scheduler.schedule_many(who, [_command(item) for item in body.items])
        return _created(BulkScheduleOut(items=[DistributionOut.of(d) for d in created]))

    @api.get("/distributions", tags=["distributions"])
    async def list_distributions(
        who: Principal,
        status_: Annotated[list[DistributionStatus], Query(alias="status")] = [],  # noqa: B006 (FastAPI copies it)
        platform: Platform | None = None,
        account_id: uuid.UUID | None = None,
        content_id: uuid.UUID | None = None,
        scheduled_from: Annotated[ApiDatetime | None, Query(description="Inclusive, RFC 3339 with offset.")] = None,
        scheduled_before: Annotated[ApiDatetime | None, Query(description="Exclusive, RFC 3339 with offset.")] = None,
        limit: Annotated[int, Query(ge=1, le=max_page_size)] = 50,
        cursor: Annotated[str | None, Query(max_length=1000)] = None,
    ) -> DistributionPageOut:
        """The team's distributions in due-time order, filtered, one page at a time (keyset pagination)."""
        where = DistributionFilter(tuple(status_), platform, account_id, content_id, scheduled_from, scheduled_before)
        page = await scheduler.list_distributions(who.team_id, where, cursor=cursor, limit=limit)
        return DistributionPageOut(items=[DistributionOut.of(d) for d in page.items], next_cursor=page.next_cursor)

    @api.get("/distributions/{distribution_id:uuid}", tags=["distributions"])
    async def get_distribution(distribution_id: uuid.UUID, who: Principal) -> DistributionDetailOut:
        """One distribution with its attempt history (every publish outcome received, in order)."""
        distribution, attempts = await scheduler.get_distribution(who.team_id, distribution_id)
        return DistributionDetailOut.with_attempts(distribution, attempts)

    @api.post("/distributions/{distribution_id:uuid}/cancel", tags=["distributions"])
    async def cancel(distribution_id: uuid.UUID, who: Principal, body: ReasonIn | None = None) -> DistributionOut:
        """Cancel (idempotent) unless already published; publishers learn it from ``DistributionCancelled``."""
        return DistributionOut.of(await scheduler.cancel(who, distribution_id, body.reason if body else None))

    @api.post("/distributions/{distribution_id:uuid}/reschedule", tags=["distributions"])
    async def reschedule(distribution_id: uuid.UUID, body: TimeIn, who: Principal) -> DistributionOut:
        """Move a scheduled (or missed) distribution to another time."""
        return DistributionOut.of(await scheduler.reschedule(who, distribution_id, body.requested()))

    @api.post("/distributions/{distribution_id:uuid}/publish-now", tags=["distributions"])
    async def publish_now(distribution_id: uuid.UUID, who: Principal) -> DistributionOut:
        """Make a scheduled (or missed) distribution of approved content due now."""
        return DistributionOut.of(await scheduler.publish_now(who, distribution_id))

    return api


def internal_router(scheduler: Scheduler, caller: Callable[[Request], Awaitable[ServicePrincipal]]) -> APIRouter:
    """The internal API (per-service credentials): what the media service asks before deleting an item."""
    api = APIRouter(prefix="/internal/v1", tags=["internal"], responses={401: ERRORS[401]})

    async def media_service(principal: Annotated[ServicePrincipal, Depends(caller)]) -> ServicePrincipal:
        if principal.service != MEDIA_SERVICE:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"only the {MEDIA_SERVICE} service may ask this")
        return principal

    @api.get(
        "/media/{media_id}/holders",
        responses={403: {"description": "The credential is not the media service's."}},
    )
    async def media_holders(
        media_id: uuid.UUID,
        team_id: uuid.UUID,
        _caller: Annotated[ServicePrincipal, Depends(media_service)],
    ) -> HoldersOut:
        """The team's distributions not yet published, failed, cancelled or missed whose content uses the media
        item, in due-time order: while there is one, the media service must not delete the item."""
        holders = await scheduler.media_holders(team_id, media_id)
        return HoldersOut(
            distributions=[
                HolderOut(
                    distribution_id=h.distribution_id,
                    content_id=h.content_id,
                    status=h.status,
                    scheduled_at=h.scheduled_at,
                )
                for h in holders
            ]
        )

    return api


def _media(items: list[MediaItemIn]) -> tuple[MediaChoice, ...]:
    return tuple(MediaChoice(item.media_id, item.alt_text) for item in items)


def _command(body: ScheduleIn) -> ScheduleCommand:
    return ScheduleCommand(
        content_id=body.content_id,
        platform=body.platform,
        account_id=body.account_id,
        when=body.requested(),
        max_attempts=body.retry.max_attempts,
        base_delay_seconds=body.retry.base_delay_seconds,
        misfire_policy=body.misfire.policy,
        misfire_window_seconds=body.misfire.window_seconds,
        over_length=body.over_length,
    )


def _created(body: BaseModel) -> Response:
    """A 201 with ``body`` serialised once (the route's ``response_model`` documents it; FastAPI would validate
    the model it was just built from again)."""
    return Response(body.model_dump_json(), status_code=status.HTTP_201_CREATED, media_type="application/json")


async def _scheduler_error(_request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, InvalidField):
        detail: list[dict[str, object]] = [
            {"loc": [exc.location, exc.field], "msg": exc.message, "type": "value_error"}
        ]
        return JSONResponse({"detail": detail}, status_code=422)
    if isinstance(exc, InvalidItems):
        detail = [
            {"loc": [p.location, "items", index, p.field], "msg": p.message, "type": "value_error"}
            for index, p in exc.problems
        ]
        return JSONResponse({"detail": detail}, status_code=422)
    if isinstance(exc, Unavailable):
        headers = {"Retry-After": str(exc.retry_after_seconds)}
        return JSONResponse({"detail": exc.message}, status_code=status.HTTP_503_SERVICE_UNAVAILABLE, headers=headers)
    code = status.HTTP_404_NOT_FOUND if isinstance(exc, NotFound) else status.HTTP_409_CONFLICT
    message = exc.message if isinstance(exc, Conflict | NotFound) else str(exc)
    return JSONResponse({"detail": message}, status_code=code)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(SchedulerError, _scheduler_error)
