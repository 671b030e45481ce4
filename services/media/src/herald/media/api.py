"""HTTP: the team API (media library, resumable uploads) and the internal API for the scheduler.

Team (API key ``hk_...``; other teams' media and uploads answer 404)
    ``POST   /v1/media``              multipart form, field ``file`` (+ optional ``alt_text``, not stored here):
                                      201 new item, 200 the team's existing item for the same bytes
    ``GET    /v1/media``              ``?limit=&cursor=``, newest first
    ``GET    /v1/media/{id}``, ``DELETE /v1/media/{id}`` (204; 409 listing the distributions that hold it)
    ``POST   /v1/uploads``            ``{"size_bytes", "sha256"?, "filename"?}`` -> 201, ``upload_url``
    ``PUT    /v1/uploads/{id}``       a chunk, placed by ``Content-Range: bytes a-b/total`` (or ``Upload-Offset``);
                                      409 with ``offset`` if it does not start where the upload stands; the last
                                      chunk answers with the item (201/200)
    ``HEAD   /v1/uploads/{id}``       ``Upload-Offset`` / ``Upload-Length``; ``GET`` the same as JSON
Internal (service credential ``svc_scheduler_...``)
    ``POST   /internal/v1/media/resolve``  ``{"team_id", "media_ids"}`` -> ``{"items": [...], "missing": [...]}``
"""

# No ``from __future__ import annotations``: FastAPI must evaluate the route signatures.
import datetime as dt
import logging
import unicodedata
import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, File, Form, Header, Query, Request, Response, UploadFile, status
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, Field
from starlette.requests import ClientDisconnect

from herald.contracts.media import MediaKind, MediaReference
from herald.kit.api import TEAM_API_RESPONSES, UNAUTHORIZED, ApiModel, WholeNumber
from herald.kit.auth import ServicePrincipal, TeamPrincipal
from herald.media.errors import (
    DeletionInProgress,
    InvalidInput,
    MalformedMedia,
    MediaError,
    MediaHeld,
    MediaNotFound,
    OffsetMismatch,
    SchedulerUnavailable,
    TooLarge,
    UnsupportedMedia,
    UploadBusy,
    UploadNotFound,
)
from herald.media.models import MediaItem, MediaStatus, Upload
from herald.media.ranges import chunk_range
from herald.media.service import MediaLibrary, Stored
from herald.media.settings import MediaSettings
from herald.media.uploads import ResumableUploads
from herald.objectstore import ObjectStoreError

_log = logging.getLogger(__name__)

ServiceAuth = Callable[[Request], Awaitable[ServicePrincipal]]
TeamAuth = Callable[[Request], Awaitable[TeamPrincipal]]
MAX_RESOLVE = 100
FORM_OVERHEAD = 64 * 1024
"""Room for the multipart envelope around the file when a request's Content-Length is checked up front."""


class MediaOut(BaseModel):
    """A media item as the team sees it."""

    id: uuid.UUID
    kind: MediaKind
    content_type: str = Field(description="Detected from the bytes.")
    size_bytes: int
    sha256: str
    width: int | None
    height: int | None
    duration_ms: int | None
    filename: str | None = Field(description="As given at upload; informative only.")
    status: MediaStatus
    created_at: dt.datetime

    @classmethod
    def of(cls, item: MediaItem) -> "MediaOut":
        return cls(
            id=item.id,
            kind=item.kind,
            content_type=item.content_type,
            size_bytes=item.size_bytes,
            sha256=item.sha256,
            width=item.width,
            height=item.height,
            duration_ms=item.duration_ms,
            filename=item.filename,
            status=item.status,
            created_at=item.created_at,
        )


class MediaPageOut(BaseModel):
    items: list[MediaOut]
    next_cursor: str | None = Field(description="Pass as `cursor` to get the next page; null on the last page.")


class UploadIn(ApiModel):
    size_bytes: WholeNumber = Field(ge=1, description="The whole file's size.")
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$", description="Checked on completion.")
    filename: str | None = Field(default=None, max_length=255)


class UploadOut(BaseModel):
    id: uuid.UUID
    upload_url: str
    size_bytes: int
    offset: int = Field(description="Bytes received so far: the next chunk starts here.")
    created_at: dt.datetime
    updated_at: dt.datetime


class ResolveIn(ApiModel):
    team_id: uuid.UUID
    media_ids: list[uuid.UUID] = Field(max_length=MAX_RESOLVE)


class ResolveOut(BaseModel):
    items: list[MediaReference]
    missing: list[uuid.UUID]


def clean_filename(name: str | None) -> str | None:
    """The last path segment of a client's file name, without control characters, at most 255 characters."""
    if not name:
        return None
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    printable = "".join(c for c in base if unicodedata.category(c)[0] != "C")
    return printable[:255] or None


def internal_router(library: MediaLibrary, service_auth: ServiceAuth) -> APIRouter:
    router = APIRouter(prefix="/internal/v1", tags=["internal"], responses={401: UNAUTHORIZED})
    Caller = Annotated[ServicePrincipal, Depends(service_auth)]

    @router.post(
        "/media/resolve", response_model=ResolveOut, response_model_exclude={"items": {"__all__": {"alt_text"}}}
    )
    async def resolve(body: ResolveIn, _caller: Caller) -> ResolveOut:
        resolved = await library.resolve(body.team_id, body.media_ids)
        return ResolveOut(items=[item.reference() for item in resolved.items], missing=resolved.missing)

    return router


def team_router(
    library: MediaLibrary, uploads: ResumableUploads, settings: MediaSettings, team_auth: TeamAuth
) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["media"], responses=TEAM_API_RESPONSES)
    Team = Annotated[TeamPrincipal, Depends(team_auth)]

    def upload_out(request: Request, upload: Upload) -> UploadOut:
        base = settings.public_base_url or str(request.base_url)
        return UploadOut(
            id=upload.id,
            upload_url=f"{base.rstrip('/')}/v1/uploads/{upload.id}",
            size_bytes=upload.size_bytes,
            offset=upload.received_bytes,
            created_at=upload.created_at,
            updated_at=upload.updated_at,
        )

    def stored_response(stored: Stored) -> JSONResponse:
        return JSONResponse(
            MediaOut.of(stored.item).model_dump(mode="json"),
            status_code=status.HTTP_201_CREATED if stored.created else status.HTTP_200_OK,
            headers={"Location": f"/v1/media/{stored.item.id}"},
        )

    @router.post(
        "/media",
        response_model=MediaOut,
        status_code=status.HTTP_201_CREATED,
        responses={
            200: {"description": "The team already had these bytes: the existing item.", "model": MediaOut},
            413: {"description": "Over the size limit of the detected kind."},
        },
    )
    async def upload_media(
        request: Request,
        team: Team,
        file: Annotated[UploadFile, File(description="The image or video.")],
        alt_text: Annotated[str | None, Form(max_length=1500, description="Accepted, not stored here.")] = None,
    ) -> JSONResponse:
        del alt_text  # alt text belongs to the content that uses the media (scheduler), not to the bytes
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > settings.max_bytes + FORM_OVERHEAD:
            raise TooLarge(f"the request is over the largest accepted size ({settings.max_bytes} bytes)", 0)
        return stored_response(await library.upload(team, file, clean_filename(file.filename)))

    @router.get("/media", response_model=MediaPageOut)
    async def list_media(
        team: Team,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        cursor: Annotated[str | None, Query(max_length=500)] = None,
    ) -> MediaPageOut:
        page = await library.list(team, cursor, limit)
        return MediaPageOut(items=[MediaOut.of(item) for item in page.items], next_cursor=page.next_cursor)

    @router.get("/media/{media_id}", response_model=MediaOut)
    async def show_media(media_id: uuid.UUID, team: Team) -> MediaOut:
        return MediaOut.of(await library.get(team, media_id))

    @router.delete(
        "/media/{media_id}",
        status_code=status.HTTP_204_NO_CONTENT,
        responses={
            409: {"description": "Scheduled distributions use it (listed), or it is already being deleted."},
            503: {"description": "The scheduler could not say whether it is in use; nothing was deleted."},
        },
    )
    async def delete_media(media_id: uuid.UUID, team: Team) -> Response:
        await library.delete(team, media_id)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    @router.post(
        "/uploads",
        response_model=UploadOut,
        status_code=status.HTTP_201_CREATED,
        responses={413: {"description": "Over the largest accepted size."}},
    )
    async def create_upload(request: Request, body: UploadIn, team: Team, response: Response) -> UploadOut:
        upload = await uploads.create(team, body.size_bytes, body.sha256, clean_filename(body.filename))
        out = upload_out(request, upload)
        response.headers["Location"] = out.upload_url
        return out

    @router.put(
        "/uploads/{upload_id}",
        response_model=UploadOut,
        responses={
            201: {"description": "The last chunk: the new media item.", "model": MediaOut},
            409: {"description": "The chunk does not start at the upload's offset (given), or one is in progress."},
            413: {"description": "The chunk, or the file, is too large."},
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "description": "The chunk's bytes.",
                "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
            }
        },
    )
    async def append_chunk(
        request: Request,
        upload_id: uuid.UUID,
        team: Team,
        content_range: Annotated[str | None, Header(alias="Content-Range", max_length=100)] = None,
        upload_offset: Annotated[str | None, Header(alias="Upload-Offset", max_length=20)] = None,
    ) -> Response:
        body = await _read_body(request, settings.max_chunk_bytes)
        upload = await uploads.get(team, upload_id)
        where = chunk_range(content_range, upload_offset, len(body), upload.size_bytes)
        progress = await uploads.append(team, upload_id, where, body)
        if progress.stored is not None:
            return stored_response(progress.stored)
        out = upload_out(request, progress.upload)
        return JSONResponse(out.model_dump(mode="json"), headers={"Upload-Offset": str(out.offset)})

    @router.head(
        "/uploads/{upload_id}",
        response_class=Response,
        responses={200: {"description": "Headers only: `Upload-Offset` and `Upload-Length`.", "content": {}}},
    )
    async def upload_offset(upload_id: uuid.UUID, team: Team) -> Response:
        upload = await uploads.get(team, upload_id)
        return Response(headers=_offset_headers(upload))

    @router.get("/uploads/{upload_id}", response_model=UploadOut)
    async def show_upload(request: Request, upload_id: uuid.UUID, team: Team, response: Response) -> UploadOut:
        upload = await uploads.get(team, upload_id)
        response.headers.update(_offset_headers(upload))
        return upload_out(request, upload)

    return router


def _offset_headers(upload: Upload) -> dict[str, str]:
    return {
        "Upload-Offset": str(upload.received_bytes),
        "Upload-Length": str(upload.size_bytes),
        "Cache-Control": "no-store",
    }


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"a chunk may carry at most {limit} bytes", limit)
    received = bytearray()
    try:
        async for piece in request.stream():
            received += piece
            if len(received) > limit:
                raise TooLarge(f"a chunk may carry at most {limit} bytes", limit)
    except ClientDisconnect:  # the client went away mid-chunk: nothing of it is kept, it resumes from HEAD's offset
        raise InvalidInput(("body",), "the chunk was cut short") from None
    return bytes(received)


def _invalid(loc: tuple[str, ...], message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"detail": [{"loc": list(loc), "msg": message, "type": "value_error", **extra}]}, 422)


def error_response(failure: MediaError) -> JSONResponse:
    """The HTTP answer for a refusal."""
    match failure:
        case MediaNotFound() | UploadNotFound():
            return JSONResponse({"detail": failure.message}, status_code=404)
        case UnsupportedMedia():
            return _invalid(("body", "file"), failure.message, detected=failure.detected)
        case MalformedMedia():
            return _invalid(("body", "file"), failure.message)
        case InvalidInput():
            return _invalid(failure.loc, failure.message)
        case TooLarge():
            return JSONResponse({"detail": failure.message}, status_code=413)
        case OffsetMismatch():
            return JSONResponse(
                {"detail": failure.message, "offset": failure.offset},
                status_code=409,
                headers={"Upload-Offset": str(failure.offset)},
            )
        case UploadBusy() | DeletionInProgress():
            return JSONResponse({"detail": failure.message}, status_code=409)
        case MediaHeld():
            return JSONResponse({"detail": failure.message, "distributions": failure.distributions}, status_code=409)
        case SchedulerUnavailable():
            return JSONResponse({"detail": failure.message}, status_code=503, headers={"Retry-After": "5"})
    return JSONResponse({"detail": "unexpected refusal"}, status_code=500)


# How long a client should wait before retrying while the object store is away (as the kit's database outage).
OBJECT_STORE_RETRY_AFTER_SECONDS = 5


def object_store_response(failure: ObjectStoreError) -> Response:
    """503 with ``Retry-After`` for an outage. A resumable upload stays where it was: the chunk's database
    transaction rolled back, so ``HEAD /v1/uploads/{id}`` still says the offset reached before it."""
    if failure.is_outage:
        return JSONResponse(
            {"detail": "the media store is unavailable; retry shortly"},
            status_code=503,
            headers={"Retry-After": str(OBJECT_STORE_RETRY_AFTER_SECONDS)},
        )
    # Refused for another reason (credentials, a missing bucket): a bug or a misconfiguration, logged as such.
    _log.error("object store refused a request: %s", failure)
    return PlainTextResponse("Internal Server Error", status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    async def handle(_request: Request, failure: Exception) -> JSONResponse:
        assert isinstance(failure, MediaError)
        return error_response(failure)

    async def handle_store(_request: Request, failure: Exception) -> Response:
        assert isinstance(failure, ObjectStoreError)
        return object_store_response(failure)

    app.add_exception_handler(MediaError, handle)
    app.add_exception_handler(ObjectStoreError, handle_store)
