"""``/rest/images`` and ``/rest/videos``: initialize an upload, PUT the bytes, finalize (videos), read the status.

Sources: https://learn.microsoft.com/en-us/linkedin/marketing/community-management/shares/images-api and
https://learn.microsoft.com/en-us/linkedin/marketing/community-management/shares/videos-api (docs/platforms.md,
"LinkedIn: media"). What LinkedIn does not document and the sandbox decides is marked "sandbox:".

Rules enforced:

* the ``owner`` must be the token's member (``urn:li:person:{sub}`` with ``w_member_social``) or a Page the member
  may post for (``w_organization_social`` and a posting role), else 403 ACCESS_DENIED;
* every upload URL takes one PUT, until ``uploadUrlExpiresAt``/``uploadUrlsExpireAt``; a second PUT or a late one
  is refused (sandbox: 400 with a message naming why; LinkedIn's own answer is not documented);
* a video part must carry exactly its instruction's byte range (``lastByte - firstByte + 1`` bytes) and answers its
  ``ETag``; ``finalizeUpload`` needs the right ``uploadToken`` and every part's ETag in instruction order;
* processing takes ``config.image_processing`` / ``config.video_processing``; a ``processing`` fault makes it end in
  ``PROCESSING_FAILED`` (the fault's ``error`` becomes the reason), ``upload`` faults fail the upload calls.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any
from urllib.parse import unquote

from fastapi import APIRouter, HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from herald.sandboxes.faults import Operation
from herald.sandboxes.linkedin import answers, fault_answers
from herald.sandboxes.linkedin.assets import Asset, AssetStatus, UploadPart, new_asset_id, new_part_key
from herald.sandboxes.linkedin.config import LinkedInSandboxConfig
from herald.sandboxes.linkedin.gateway import Caller, Gateway, resource_version
from herald.sandboxes.linkedin.permissions import may_post
from herald.sandboxes.linkedin.state import LinkedInState, account_key
from herald.sandboxes.linkedin.validation import AUTHOR

UPLOAD_PATH = "/dms-uploads"
DEFAULT_FAILURE_REASON = "Media processing failed"
# sandbox: the resource names in 403 messages follow the Posts API's ``partnerApiPostsExternal`` pattern.
_RESOURCES = {"image": "images", "video": "videos"}


class Media:
    """The Images and Videos resources, and the upload URLs they hand out."""

    def __init__(self, state: LinkedInState, config: LinkedInSandboxConfig, gateway: Gateway) -> None:
        self.state = state
        self.config = config
        self.gateway = gateway

    def router(self) -> APIRouter:
        router = APIRouter(tags=["media"])
        router.add_api_route("/rest/images", self.images_action, methods=["POST"])
        router.add_api_route("/rest/videos", self.videos_action, methods=["POST"])
        router.add_api_route("/rest/images/{urn}", self.get_image, methods=["GET"])
        router.add_api_route("/rest/videos/{urn}", self.get_video, methods=["GET"])
        router.add_api_route(f"{UPLOAD_PATH}/{{key}}", self.upload, methods=["PUT", "POST"])
        return router

    # --- actions -------------------------------------------------------------------------------------------------

    async def images_action(self, request: Request) -> Response:
        return await self._action(request, "image")

    async def videos_action(self, request: Request) -> Response:
        return await self._action(request, "video")

    async def _action(self, request: Request, kind: str) -> Response:
        caller = self.gateway.versioned(request)
        if isinstance(caller, Response):
            return caller
        action = request.query_params.get("action")
        allowed = ("initializeUpload", "finalizeUpload") if kind == "video" else ("initializeUpload",)
        if action not in allowed:
            return answers.illegal_argument(f"Unsupported action {action!r} on {_RESOURCES[kind]}")
        body = await _json_object(request)
        if body is None:
            return answers.unreadable_body()
        self.state.media_requests[f"{kind}.{action}"] += 1
        if action == "finalizeUpload":
            return await self._finalize(caller, body)
        return await self._initialize(request, caller, kind, body)

    async def _initialize(self, request: Request, caller: Caller, kind: str, body: dict[str, Any]) -> Response:
        init = body.get("initializeUploadRequest")
        if not isinstance(init, dict):
            return answers.schema_errors(
                ["ERROR :: /initializeUploadRequest :: field is required but not found and has no default value"]
            )
        lines = _initialize_problems(kind, init)
        if lines:
            return answers.schema_errors(lines)
        owner = init["owner"]
        early = await self._fault(Operation.UPLOAD, account_key(owner), caller)
        if early is not None:
            return early
        if not may_post(caller, owner, self.config):
            return answers.access_denied(f"{_RESOURCES[kind]}.ACTION-initializeUpload.{resource_version(caller)}")
        now = dt.datetime.now(dt.UTC)
        size = init.get("fileSizeBytes") if kind == "video" else None
        asset = Asset(
            urn=f"urn:li:{kind}:{new_asset_id()}",
            kind=kind,
            owner=owner,
            size=size,
            created_at=now,
            upload_expires_at=now + self.config.upload_url_ttl,
            parts=_parts(size, self.config.video_part_bytes) if size else [UploadPart(new_part_key(), 0, -1)],
        )
        asset.upload_token = new_part_key() if len(asset.parts) > 1 else ""
        self.state.assets[asset.urn] = asset
        base = str(request.base_url).rstrip("/")
        expires = int(asset.upload_expires_at.timestamp() * 1000)
        if kind == "image":
            value: dict[str, Any] = {
                "uploadUrlExpiresAt": expires,
                "uploadUrl": f"{base}{UPLOAD_PATH}/{asset.parts[0].key}",
                "image": asset.urn,
            }
        else:
            value = {
                "uploadUrlsExpireAt": expires,
                "video": asset.urn,
                "uploadInstructions": [
                    {"uploadUrl": f"{base}{UPLOAD_PATH}/{p.key}", "firstByte": p.first_byte, "lastByte": p.last_byte}
                    for p in asset.parts
                ],
                "uploadToken": asset.upload_token,
            }
        return JSONResponse({"value": value})

    async def _finalize(self, caller: Caller, body: dict[str, Any]) -> Response:
        request = body.get("finalizeUploadRequest")
        if not isinstance(request, dict):
            return answers.schema_errors(
                ["ERROR :: /finalizeUploadRequest :: field is required but not found and has no default value"]
            )
        asset = self.state.assets.get(str(request.get("video", "")))
        if asset is None or asset.kind != "video":
            return answers.not_found(f"Video {request.get('video')} does not exist")
        early = await self._fault(Operation.UPLOAD, account_key(asset.owner), caller)
        if early is not None:
            return early
        if not may_post(caller, asset.owner, self.config):
            return answers.access_denied(f"videos.ACTION-finalizeUpload.{resource_version(caller)}")
        refused = _finalize_refusal(asset, request)
        if refused is not None:
            return answers.illegal_argument(refused)
        await self._start_processing(asset, self.config.video_processing, caller)
        return Response(status_code=200)

    # --- bytes ---------------------------------------------------------------------------------------------------

    async def upload(self, key: str, request: Request) -> Response:
        """The upload URL: no LinkedIn-Version needed (it is not ``/rest``); the URL itself is the credential."""
        found = self._part(key)
        if found is None:
            return answers.not_found("Upload URL does not exist")  # sandbox wording
        asset, part = found
        self.state.media_requests[f"{asset.kind}.upload"] += 1
        early = await self._fault(Operation.UPLOAD, account_key(asset.owner), None)
        if early is not None:
            return early
        now = dt.datetime.now(dt.UTC)
        if now >= asset.upload_expires_at:
            return answers.illegal_argument("Upload URL has expired")  # sandbox wording
        if part.etag is not None:
            return answers.illegal_argument("Upload URL has already been used")  # sandbox wording
        data = await request.body()
        if asset.kind == "video" and len(data) != part.size:
            return answers.illegal_argument(
                f"Part must be bytes {part.first_byte}-{part.last_byte} ({part.size} bytes), got {len(data)} bytes"
            )
        if not data:
            return answers.illegal_argument("Empty upload")
        part.etag = f"/{hashlib.sha256(data + key.encode()).hexdigest()[:40]}"
        asset.received += len(data)
        if asset.kind == "image":
            asset.sha256 = hashlib.sha256(data).hexdigest()
            await self._start_processing(asset, self.config.image_processing, None)
            return Response(status_code=201)  # images-api sample: 201 Created
        return Response(status_code=200, headers={"ETag": part.etag})

    # --- status --------------------------------------------------------------------------------------------------

    async def get_image(self, urn: str, request: Request) -> Response:
        return await self._get(unquote(urn), "image", request)

    async def get_video(self, urn: str, request: Request) -> Response:
        return await self._get(unquote(urn), "video", request)

    async def _get(self, urn: str, kind: str, request: Request) -> Response:
        caller = self.gateway.versioned(request)
        if isinstance(caller, Response):
            return caller
        self.state.media_requests[f"{kind}.get"] += 1
        asset = self.state.assets.get(urn)
        if asset is None or asset.kind != kind:
            return answers.not_found(f"{kind.capitalize()} {urn} does not exist")
        early = await self._fault(Operation.READ, account_key(asset.owner), caller)
        if early is not None:
            return early
        if not may_post(caller, asset.owner, self.config):
            return answers.access_denied(f"{_RESOURCES[kind]}.GET.{resource_version(caller)}")
        return JSONResponse(asset_entity(asset, str(request.base_url).rstrip("/")))

    # --- helpers -------------------------------------------------------------------------------------------------

    async def _start_processing(self, asset: Asset, duration: dt.timedelta, caller: Caller | None) -> None:
        fault = self.state.faults.take(Operation.PROCESSING, account_key(asset.owner))
        if fault is not None:
            asset.failure_reason = fault.error or DEFAULT_FAILURE_REASON
        asset.processing_until = dt.datetime.now(dt.UTC) + duration

    def _part(self, key: str) -> tuple[Asset, UploadPart] | None:
        for asset in self.state.assets.values():
            for part in asset.parts:
                if part.key == key:
                    return asset, part
        return None

    async def _fault(self, operation: Operation, account: str, caller: Caller | None) -> Response | None:
        fault = self.state.faults.take(operation, account)
        version = caller.version if caller else self.config.newest_active_version or "202607"
        context = fault_answers.FaultContext(self.state, account, version, self.config.send_retry_after)
        return await fault_answers.before(fault, fault_answers.API_ERRORS, context)


def asset_entity(asset: Asset, base_url: str) -> dict[str, Any]:
    """``GET /rest/images/{urn}`` / ``/rest/videos/{urn}``: id, owner, status, and a download URL once AVAILABLE.

    sandbox: ``processingFailureReason`` is the sandbox's way to say why processing failed (not a documented
    field); a client must cope without it.
    """
    now = dt.datetime.now(dt.UTC)
    status = asset.status(now)
    entity: dict[str, Any] = {"id": asset.urn, "owner": asset.owner, "status": status.value}
    if status is AssetStatus.AVAILABLE:
        entity["downloadUrl"] = f"{base_url}/media/{asset.urn}"
        entity["downloadUrlExpiresAt"] = int((now + dt.timedelta(hours=1)).timestamp() * 1000)
    if status is AssetStatus.PROCESSING_FAILED:
        entity["processingFailureReason"] = asset.failure_reason
    return entity


def _parts(size: int, part_bytes: int) -> list[UploadPart]:
    return [
        UploadPart(new_part_key(), first, min(first + part_bytes, size) - 1) for first in range(0, size, part_bytes)
    ]


def _initialize_problems(kind: str, init: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    owner = init.get("owner")
    if owner is None:
        lines.append(
            "ERROR :: /initializeUploadRequest/owner :: field is required but not found and has no default value"
        )
    elif not isinstance(owner, str) or not AUTHOR.match(owner):
        lines.append(f"ERROR :: /initializeUploadRequest/owner :: {owner!r} is not a valid person or organization URN")
    if kind == "video":
        size = init.get("fileSizeBytes")
        if size is None:
            lines.append(
                "ERROR :: /initializeUploadRequest/fileSizeBytes :: field is required but not found and has no default "
                "value"
            )
        elif not isinstance(size, int) or isinstance(size, bool) or size <= 0:
            lines.append(f"ERROR :: /initializeUploadRequest/fileSizeBytes :: {size!r} is not a positive long")
        for flag in ("uploadCaptions", "uploadThumbnail"):
            if flag in init and not isinstance(init[flag], bool):
                lines.append(f"ERROR :: /initializeUploadRequest/{flag} :: {init[flag]!r} is not a boolean")
    return lines


def _finalize_refusal(asset: Asset, request: dict[str, Any]) -> str | None:
    if asset.processing_until is not None:
        return f"Video {asset.urn} was already finalized"  # sandbox wording
    if request.get("uploadToken", "") != asset.upload_token:
        return "uploadToken does not match the upload"
    missing = [f"{p.first_byte}-{p.last_byte}" for p in asset.parts if p.etag is None]
    if missing:
        return f"Parts not uploaded: bytes {', '.join(missing)}"
    ids = request.get("uploadedPartIds")
    if ids != [p.etag for p in asset.parts]:
        return "uploadedPartIds must list the ETag of every uploaded part, in the order of the upload instructions"
    return None


async def _json_object(request: Request) -> dict[str, Any] | None:
    try:
        body = json.loads(await request.body())
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def media_control_router(state: LinkedInState) -> APIRouter:
    """``/_sandbox/linkedin/media``: list assets and media call counts; expire an asset's upload URLs."""
    router = APIRouter(prefix="/_sandbox/linkedin/media", tags=["sandbox control"])

    @router.get("")
    def inspect() -> dict[str, Any]:
        now = dt.datetime.now(dt.UTC)
        assets = [
            {
                "id": a.urn,
                "owner": a.owner,
                "status": a.status(now).value,
                "parts": len(a.parts),
                "parts_received": sum(1 for p in a.parts if p.etag is not None),
                "bytes_received": a.received,
                "sha256": a.sha256,
            }
            for a in state.assets.values()
        ]
        return {"assets": assets, "requests": dict(state.media_requests)}

    @router.post("/{urn}/expire")
    def expire(urn: str) -> dict[str, str]:
        asset = state.assets.get(urn)
        if asset is None:
            raise HTTPException(404, f"no asset {urn}")
        asset.upload_expires_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        return {"id": urn, "upload_expires_at": asset.upload_expires_at.isoformat()}

    return router
