"""X media upload routes: v2 (``/2/media/upload/...``, ``/2/media/metadata``) and v1.1 (``/1.1/media/upload.json``,
``/1.1/media/metadata/create.json``, what tweepy's ``API.media_upload`` calls), over one :class:`UploadBook`.

v2 answers ``{"data": {...}}`` and refuses with X's problem shape (400 ``invalid-request``); v1.1 answers the flat
``media_id``/``media_id_string`` objects and refuses with ``{"errors": [{"code": 324, "message": ...}]}``. Both
require the ``media.write`` scope (https://docs.x.com/fundamentals/authentication/oauth-2-0/authorization-code) and
count against the ``media.upload`` rate-limit window. Faults: ``operation=upload`` applies to INIT, APPEND and
FINALIZE (``accept_then_fail``: the step is done, then the answer fails); ``operation=processing`` (any kind) makes
the next FINALIZE's processing end ``failed``. ``/_sandbox/media`` lists the uploads; ``POST
/_sandbox/media/{id}/expire`` ends a media id's life now.
"""

from __future__ import annotations

import json
import time
from typing import Any

from fastapi import APIRouter
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response

from herald.sandboxes.faults import Fault, FaultKind, Operation
from herald.sandboxes.responses import accept_then_fail
from herald.sandboxes.x import problems
from herald.sandboxes.x.accounts import XUser
from herald.sandboxes.x.runtime import XReject, XSandbox
from herald.sandboxes.x.uploads import MediaRefused, Upload

MEDIA_SCOPES = ("media.write",)
ALT_TEXT_MAX = 1000  # https://developer.x.com/en/docs/media/upload-media/api-reference/post-media-metadata-create
V1_MEDIA_ERROR_CODE = 324  # v1.1's "media id invalid / media rejected" code


def media_router(sandbox: XSandbox) -> APIRouter:
    """Every media route: v2, v1.1 and the ``/_sandbox/media`` control routes."""
    calls = _Calls(sandbox)
    router = APIRouter(tags=["X: media"])
    router.include_router(_v2_router(calls))
    router.include_router(_v1_router(calls))
    router.include_router(_control_router(calls))
    return router


class _Calls:
    """What every upload call does first (auth, rate limit, fault) and last (answer, or the armed failure)."""

    def __init__(self, sandbox: XSandbox) -> None:
        self.sandbox = sandbox
        self.book = sandbox.uploads
        self.config = sandbox.config

    async def enter(self, request: Request) -> tuple[XUser, dict[str, str], Fault | None]:
        """The user, the rate-limit headers and an armed accept_then_fail fault (applied after the step)."""
        user, headers = self.read(request)
        fault = await self.sandbox.take_fault(Operation.UPLOAD, user.account, "media.upload")
        return user, headers, fault

    def read(self, request: Request) -> tuple[XUser, dict[str, str]]:
        """The user and the rate-limit headers (a STATUS read takes no upload fault)."""
        user = self.sandbox.authenticate(request, MEDIA_SCOPES)
        return user, self.sandbox.headers(self.sandbox.take_quota("media.upload", user.id))

    async def answer(self, body: Any, headers: dict[str, str], fault: Fault | None, status: int = 200) -> Response:
        if fault is not None:
            return await accept_then_fail(fault, problems.problem(problems.SERVICE_UNAVAILABLE, 503, headers))
        if body is None:
            return Response(status_code=status, headers=headers)
        return problems.x_json(body, status, headers)

    def finalize(self, upload: Upload) -> None:
        processing = self.sandbox.state.faults.take(Operation.PROCESSING, upload.account)
        fails = processing is not None and processing.kind is not FaultKind.LATENCY
        self.book.finalize(upload, processing_seconds=self.config.media_processing_seconds, fails=fails)


def _v2_router(calls: _Calls) -> APIRouter:
    router = APIRouter()
    book, config = calls.book, calls.config

    @router.post("/2/media/upload/initialize")
    async def initialize(request: Request) -> Response:
        user, headers, fault = await calls.enter(request)
        body = await _json_object(request)
        with _v2(headers):
            upload = book.initialize(
                account=user.account,
                owner_id=user.id,
                media_type=str(body.get("media_type") or ""),
                total_bytes=body.get("total_bytes"),
                category=body.get("media_category"),
                lifetime_seconds=config.media_expires_after_secs,
                additional_owners=frozenset(str(o) for o in body.get("additional_owners") or []),
            )
        data = {"id": upload.id, "media_key": upload.media_key, "expires_after_secs": config.media_expires_after_secs}
        return await calls.answer({"data": data}, headers, fault)

    @router.post("/2/media/upload/{media_id}/append")
    async def append(media_id: str, request: Request) -> Response:
        user, headers, fault = await calls.enter(request)
        form = await request.form()
        with _v2(headers):
            upload = book.get(media_id, user.account)
            book.append(upload, form.get("segment_index"), await _file(form.get("media")))
        return await calls.answer({"data": {"expires_at": int(upload.expires)}}, headers, fault)

    @router.post("/2/media/upload/{media_id}/finalize")
    async def finalize_v2(media_id: str, request: Request) -> Response:
        user, headers, fault = await calls.enter(request)
        with _v2(headers):
            upload = book.get(media_id, user.account)
            calls.finalize(upload)
        return await calls.answer({"data": _v2_view(upload, config.media_check_after_secs)}, headers, fault)

    @router.get("/2/media/upload")
    async def status_v2(request: Request) -> Response:
        user, headers = calls.read(request)
        params = request.query_params
        with _v2(headers):
            if params.get("command") != "STATUS":
                raise MediaRefused("command: must be STATUS for GET /2/media/upload.")
            upload = book.get(params.get("media_id") or "", user.account)
        return problems.x_json({"data": _v2_view(upload, config.media_check_after_secs)}, 200, headers)

    @router.post("/2/media/metadata")
    async def metadata_v2(request: Request) -> Response:
        user, headers, _ = await calls.enter(request)
        body = await _json_object(request)
        metadata = body.get("metadata") if isinstance(body.get("metadata"), dict) else {}
        with _v2(headers):
            upload = book.get(str(body.get("id") or ""), user.account)
            _set_alt_text(upload, (metadata or {}).get("alt_text"))
        return problems.x_json({"data": {"associated_metadata": True, "id": upload.id}}, 200, headers)

    return router


def _v1_router(calls: _Calls) -> APIRouter:
    """v1.1, what tweepy's ``API.media_upload`` calls."""
    router = APIRouter()
    book, config = calls.book, calls.config

    @router.post("/1.1/media/upload.json")
    async def upload_v1(request: Request) -> Response:
        user, headers, fault = await calls.enter(request)
        form = await request.form()
        fields = {**request.query_params, **{k: v for k, v in form.items() if isinstance(v, str)}}
        command = fields.get("command")
        with _v1(headers):
            if command is None:
                data = await _file(form.get("media"))
                upload = book.simple(
                    account=user.account,
                    owner_id=user.id,
                    data=data,
                    media_type=_sniff(data),
                    lifetime_seconds=config.media_expires_after_secs,
                )
                return await calls.answer(_v1_view(upload, config.media_check_after_secs), headers, fault)
            if command == "INIT":
                upload = book.initialize(
                    account=user.account,
                    owner_id=user.id,
                    media_type=fields.get("media_type", ""),
                    total_bytes=_maybe_int(fields.get("total_bytes")),
                    category=fields.get("media_category"),
                    lifetime_seconds=config.media_expires_after_secs,
                    additional_owners=frozenset(o for o in fields.get("additional_owners", "").split(",") if o),
                )
                return await calls.answer(_v1_view(upload, config.media_check_after_secs), headers, fault)
            upload = book.get(fields.get("media_id", ""), user.account)
            if command == "APPEND":
                book.append(upload, fields.get("segment_index"), await _file(form.get("media")))
                return await calls.answer(None, headers, fault, status=204)
            if command == "FINALIZE":
                calls.finalize(upload)
                return await calls.answer(_v1_view(upload, config.media_check_after_secs), headers, fault)
            raise MediaRefused(f"command: [{command}] is not one of [INIT, APPEND, FINALIZE, STATUS].")

    @router.get("/1.1/media/upload.json")
    async def status_v1(request: Request) -> Response:
        user, headers = calls.read(request)
        with _v1(headers):
            if request.query_params.get("command") != "STATUS":
                raise MediaRefused("command: must be STATUS.")
            upload = book.get(request.query_params.get("media_id", ""), user.account)
        return problems.x_json(_v1_view(upload, config.media_check_after_secs), 200, headers)

    @router.post("/1.1/media/metadata/create.json")
    async def metadata_v1(request: Request) -> Response:
        user, headers, _ = await calls.enter(request)
        body = await _json_object(request, v1=True)
        with _v1(headers):
            upload = book.get(str(body.get("media_id") or ""), user.account)
            _set_alt_text(upload, body.get("alt_text"))
        return Response(status_code=200, headers=headers)

    return router


def _control_router(calls: _Calls) -> APIRouter:
    router = APIRouter()
    book = calls.book

    @router.get("/_sandbox/media", tags=["sandbox control"])
    async def list_media() -> list[dict[str, Any]]:
        now = time.time()
        return [u.public(now) for u in book.all()]

    @router.post("/_sandbox/media/{media_id}/expire", tags=["sandbox control"])
    async def expire(media_id: str) -> dict[str, Any]:
        for upload in book.all():
            if upload.id == media_id:
                upload.expires = time.time()
                return upload.public(time.time())
        raise XReject(problems.problem({"title": "Not Found", "detail": f"no media {media_id}", "status": 404}, 404))

    return router


class _Refusal:
    """``with _v2(headers):`` turns a :class:`MediaRefused` into that API version's error answer."""

    def __init__(self, headers: dict[str, str], v1: bool) -> None:
        self.headers = headers
        self.v1 = v1

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, error: BaseException | None, trace: object) -> None:
        if not isinstance(error, MediaRefused):
            return
        if self.v1:
            body = {"errors": [{"code": V1_MEDIA_ERROR_CODE, "message": error.message}]}
            raise XReject(problems.x_json(body, error.status, self.headers)) from None
        response = problems.invalid_request(error.message)
        response.headers.update(self.headers)
        raise XReject(response) from None


def _v2(headers: dict[str, str]) -> _Refusal:
    return _Refusal(headers, v1=False)


def _v1(headers: dict[str, str]) -> _Refusal:
    return _Refusal(headers, v1=True)


def _v2_view(upload: Upload, check_after_secs: int) -> dict[str, Any]:
    now = time.time()
    view: dict[str, Any] = {
        "id": upload.id,
        "media_key": upload.media_key,
        "size": upload.received,
        "expires_after_secs": upload.expires_after_secs(now),
    }
    info = upload.processing_info(now, check_after_secs)
    if info is not None:
        view["processing_info"] = info
    return view


def _v1_view(upload: Upload, check_after_secs: int) -> dict[str, Any]:
    now = time.time()
    view: dict[str, Any] = {
        "media_id": int(upload.id),
        "media_id_string": upload.id,
        "media_key": upload.media_key,
        "expires_after_secs": upload.expires_after_secs(now),
    }
    if upload.finalized_at is not None:
        view["size"] = upload.received
        info = upload.processing_info(now, check_after_secs)
        if info is not None:
            view["processing_info"] = info
        if upload.category == "tweet_video":
            view["video"] = {"video_type": upload.media_type}
        else:
            view["image"] = {"image_type": upload.media_type}
    return view


def _set_alt_text(upload: Upload, alt_text: Any) -> None:
    text = alt_text.get("text") if isinstance(alt_text, dict) else None
    if not isinstance(text, str):
        raise MediaRefused("metadata.alt_text.text: is missing but it is required.")
    if len(text) > ALT_TEXT_MAX:
        raise MediaRefused(f"alt_text.text: must be at most {ALT_TEXT_MAX} characters, got {len(text)}.")
    if upload.category == "tweet_video":
        # "This feature is currently only supported for images and GIFs" (the metadata/create reference).
        raise MediaRefused("alt_text: is only supported for images and GIFs.")
    upload.alt_text = text


async def _json_object(request: Request, *, v1: bool = False) -> dict[str, Any]:
    try:
        body = json.loads(await request.body())
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = None
    if not isinstance(body, dict):
        if v1:
            error = {"errors": [{"code": 38, "message": "The request body must be a JSON object."}]}
            raise XReject(problems.x_json(error, 400))
        raise XReject(problems.invalid_request("Request body is not valid JSON."))
    return body


async def _file(value: Any) -> bytes:
    if isinstance(value, UploadFile):
        return await value.read()
    if isinstance(value, str):
        return value.encode()
    raise MediaRefused("media: is missing but it is required.")


def _maybe_int(value: str | None) -> Any:
    return int(value) if value is not None and value.isdigit() else value


def _sniff(data: bytes) -> str:
    """v1.1's one-shot upload carries no media type: X reads it from the bytes."""
    if data.startswith(b"\x89PNG"):
        return "image/png"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return "image/jpeg"
