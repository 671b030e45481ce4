"""Uploading a post's images and videos to LinkedIn before the post is created (docs/platforms.md, "LinkedIn: media").

Images (``/rest/images``): ``initializeUpload`` with the owner -> one upload URL and the image URN; PUT the bytes;
poll ``GET /rest/images/{urn}`` until ``AVAILABLE``. Videos (``/rest/videos``): ``initializeUpload`` with
``fileSizeBytes`` -> upload instructions (one URL per byte range), the video URN and an ``uploadToken``; PUT each
range and keep its ``ETag``; ``finalizeUpload`` with the ETags in order; poll ``GET /rest/videos/{urn}``.

Every step is recorded in the distribution's :class:`~herald.platforms.base.UploadMemory` before the next one runs,
so a retry picks up where the last attempt stopped:

==================  ==============================================  ==========================================
state               detail                                          on retry
==================  ==============================================  ==========================================
``initialized``     kind, instructions (URLs + ranges), session     upload, unless the URLs (``expires_at``)
                                                                    are about to expire: initialize again
``part_uploaded``   + ETags of the parts sent so far                send the remaining parts only
``uploaded``        (an image's bytes are in)                       poll the status
``finalized``       (a video's parts are finalized)                 poll the status
``available``                                                       reuse the URN if LinkedIn still has it
==================  ==============================================  ==========================================

A refused upload URL (expired or used: a non-429 4xx) means: initialize again, once; unless the asset is already past
``WAITING_UPLOAD``, which happens when an attempt sent the bytes (or the finalize) but died before recording it.

Uploads are safe to redo (a redone upload only leaves an unused asset behind), so failures of these calls are
``RETRY_LATER`` (5xx, 429, no answer) and never ``UNKNOWN_OUTCOME``; only the post create is not safe to redo.
A processing failure is ``PERMANENT`` naming LinkedIn's reason.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import httpx

from herald.contracts.media import MediaKind, MediaReference
from herald.platforms.base import ErrorClass, MediaContext, PlatformError, PreparedPost, UploadRecord
from herald.platforms.http import json_object
from herald.platforms.linkedin.errors import classify_response, classify_transport
from herald.platforms.linkedin.restli import encode_key, rest_headers
from herald.platforms.linkedin.settings import LinkedInSettings

INITIALIZED = "initialized"
PART_UPLOADED = "part_uploaded"
UPLOADED = "uploaded"
FINALIZED = "finalized"
AVAILABLE = "available"
FAILED = "failed"
"""LinkedIn could not process the asset: the publisher counts processing failures from this recorded state."""

STATUS_AVAILABLE = "AVAILABLE"
STATUS_FAILED = "PROCESSING_FAILED"
STATUS_WAITING = "WAITING_UPLOAD"
# The images-api page recommends reading images in 4 MB pieces too; one read per chunk keeps memory bounded.
READ_CHUNK_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Instruction:
    """One upload URL and the inclusive byte range it takes (an image: the whole file)."""

    url: str
    first_byte: int
    last_byte: int


@dataclass(frozen=True)
class Upload:
    """An initialized upload: what :class:`UploadRecord.detail` keeps between steps and attempts."""

    kind: str  # "image" | "video"
    urn: str
    instructions: tuple[Instruction, ...]
    session: str = ""  # LinkedIn's ``uploadToken``: names the multipart upload, grants nothing without the bearer
    expires_at: dt.datetime | None = None
    etags: tuple[str, ...] = field(default=())

    def record(self, state: str) -> UploadRecord:
        detail = {
            "kind": self.kind,
            "instructions": json.dumps([[i.url, i.first_byte, i.last_byte] for i in self.instructions]),
            "upload_session": self.session,
            "etags": json.dumps(list(self.etags)),
        }
        return UploadRecord(platform_media_id=self.urn, state=state, expires_at=self.expires_at, detail=detail)

    @classmethod
    def from_record(cls, record: UploadRecord) -> Upload | None:
        """The upload a record describes, or ``None`` if the record is not one of ours (or is damaged)."""
        detail = record.detail
        try:
            instructions = tuple(Instruction(str(u), int(f), int(t)) for u, f, t in json.loads(detail["instructions"]))
            etags = tuple(str(e) for e in json.loads(detail.get("etags", "[]")))
            kind = detail["kind"]
        except (KeyError, ValueError, TypeError):
            return None
        return cls(
            kind, record.platform_media_id, instructions, detail.get("upload_session", ""), record.expires_at, etags
        )


MULTI_IMAGE_MAX = 20


def media_shape_problem(post: PreparedPost) -> str | None:
    """Why LinkedIn cannot carry this post's media, or ``None``: one video alone, or 1 to 20 images, and no link
    card beside them (``content`` holds one kind). The scheduler's media rules refuse these earlier; this guards the
    client against a post built without them."""
    kinds = [item.kind for item in post.media]
    if MediaKind.VIDEO in kinds and len(kinds) > 1:
        return "linkedin.media: a LinkedIn post carries one video alone, not with other media"
    if len(kinds) > MULTI_IMAGE_MAX:
        return f"linkedin.media: a LinkedIn post carries at most {MULTI_IMAGE_MAX} images, got {len(kinds)}"
    if post.link:
        return "linkedin.media: a LinkedIn post carries either a link card or media, not both"
    return None


class _StaleUpload(Exception):
    """LinkedIn refused an upload URL or a finalize (expired, already used, parts mismatch): initialize again."""

    def __init__(self, error: PlatformError) -> None:
        super().__init__(error.message)
        self.error = error


class MediaUploader:
    """Uploads the media of one post for one owner (the post's author URN), one item after the other."""

    def __init__(
        self, settings: LinkedInSettings, http: httpx.AsyncClient, access_token: str, owner: str, media: MediaContext
    ) -> None:
        self._settings = settings
        self._http = http
        self._token = access_token
        self._owner = owner
        self._source = media.source
        self._memory = media.memory

    async def upload_all(self, items: Sequence[MediaReference]) -> list[str]:
        """The URN of every item, each ``AVAILABLE`` on LinkedIn, in order."""
        return [await self._ensure(item) for item in items]

    async def _ensure(self, item: MediaReference) -> str:
        record = await self._memory.recall(item)
        upload = Upload.from_record(record) if record is not None else None
        if record is not None and upload is not None:
            try:
                resumed = await self._resume(item, record.state, upload)
            except _StaleUpload:
                resumed = None  # an expired or used URL: start over below
            if resumed is not None:
                return resumed
        try:
            return await self._fresh(item)
        except _StaleUpload as stale:
            # A URL just handed out was refused: not something a retry fixes.
            raise PlatformError(
                ErrorClass.PERMANENT,
                f"LinkedIn refused a fresh upload of media {item.media_id}: {stale.error.message}",
                http_status=stale.error.http_status,
                platform_code=stale.error.platform_code,
                response_excerpt=stale.error.response_excerpt,
            ) from stale

    async def _resume(self, item: MediaReference, state: str, upload: Upload) -> str | None:
        """Carry on from a recorded step; ``None`` when the upload must start over."""
        if state in (AVAILABLE, UPLOADED, FINALIZED):
            status = await self._status(upload)
            if status is None or status[0] == STATUS_WAITING:
                return None  # forgotten by LinkedIn, or the bytes never arrived: upload again
            return await self._until_available(item, upload, known=status, recorded=state)
        if state in (INITIALIZED, PART_UPLOADED) and self._still_valid(upload):
            return await self._send(item, upload)
        return None

    async def _fresh(self, item: MediaReference) -> str:
        upload = await self._initialize(item)
        await self._memory.remember(item, upload.record(INITIALIZED))
        return await self._send(item, upload)

    async def _send(self, item: MediaReference, upload: Upload) -> str:
        if upload.kind == "image":
            try:
                await self._put_image(item, upload)
            except _StaleUpload as stale:
                await self._unless_already_done(upload, stale)
            await self._memory.remember(item, upload.record(UPLOADED))
        else:
            upload = await self._put_parts(item, upload)
            try:
                await self._finalize(upload)
            except _StaleUpload as stale:
                await self._unless_already_done(upload, stale)
            await self._memory.remember(item, upload.record(FINALIZED))
        return await self._until_available(item, upload, known=None, recorded=None)

    async def _unless_already_done(self, upload: Upload, stale: _StaleUpload) -> None:
        """After a refused PUT or finalize: fine if an earlier attempt did it without living to record it (the asset
        is past ``WAITING_UPLOAD``, so nothing has to be sent again); otherwise the upload is stale."""
        status = await self._status(upload)
        if status is None or status[0] == STATUS_WAITING:
            raise stale

    # --- LinkedIn calls ------------------------------------------------------------------------------------------

    async def _initialize(self, item: MediaReference) -> Upload:
        kind = "video" if item.kind is MediaKind.VIDEO else "image"  # a GIF is an image on LinkedIn
        request: dict[str, Any] = {"owner": self._owner}
        if kind == "video":
            request |= {"fileSizeBytes": item.size_bytes, "uploadCaptions": False, "uploadThumbnail": False}
        response = await self._api("POST", f"/{kind}s?action=initializeUpload", {"initializeUploadRequest": request})
        value = json_object(response).get("value")
        try:
            return _upload_from(kind, value if isinstance(value, dict) else {}, item.size_bytes)
        except (KeyError, ValueError, TypeError) as error:
            raise PlatformError(
                ErrorClass.RETRY_LATER,
                f"LinkedIn {kind} initializeUpload answer could not be read ({error!r})",
                http_status=response.status_code,
            ) from error

    async def _put_image(self, item: MediaReference, upload: Upload) -> None:
        data = b"".join([chunk async for chunk in self._source.stream(item, chunk_bytes=READ_CHUNK_BYTES)])
        # The images-api sample sends the bearer token with the upload (the URL is on LinkedIn's own host).
        await self._put(upload.instructions[0].url, data, {"Authorization": f"Bearer {self._token}"})

    async def _put_parts(self, item: MediaReference, upload: Upload) -> Upload:
        done = len(upload.etags)
        async for index, data in _ranges(self._source.stream(item, chunk_bytes=READ_CHUNK_BYTES), upload.instructions):
            if index < done:
                continue  # sent and recorded by an earlier attempt
            response = await self._put(upload.instructions[index].url, data, {})
            etag = response.headers.get("etag")
            if not etag:
                raise PlatformError(
                    ErrorClass.RETRY_LATER,
                    f"LinkedIn accepted video part {index + 1} of {upload.urn} without an ETag",
                    http_status=response.status_code,
                )
            upload = replace(upload, etags=(*upload.etags, etag))
            await self._memory.remember(item, upload.record(PART_UPLOADED))
        return upload

    async def _finalize(self, upload: Upload) -> None:
        body = {
            "finalizeUploadRequest": {
                "video": upload.urn,
                "uploadToken": upload.session,
                "uploadedPartIds": list(upload.etags),
            }
        }
        try:
            await self._api("POST", "/videos?action=finalizeUpload", body)
        except PlatformError as error:
            if error.error_class is ErrorClass.PERMANENT and error.http_status in (400, 404, 409, 422):
                raise _StaleUpload(error) from error  # parts expired or mismatched: the upload must start over
            raise

    async def _status(self, upload: Upload) -> tuple[str, str] | None:
        """``(status, failure reason)`` of an asset, or ``None`` if LinkedIn does not know it (any more)."""
        response = await self._api("GET", f"/{upload.kind}s/{encode_key(upload.urn)}", None, allow=(404,))
        if response.status_code == 404:
            return None
        body = json_object(response)
        reason = body.get("processingFailureReason") or body.get("failureReason") or ""
        return str(body.get("status", "")), str(reason)

    async def _until_available(
        self, item: MediaReference, upload: Upload, *, known: tuple[str, str] | None, recorded: str | None
    ) -> str:
        deadline = time.monotonic() + self._settings.media_poll_timeout_seconds
        status = known or await self._status(upload)
        while True:
            if status is None:
                raise PlatformError(ErrorClass.RETRY_LATER, f"LinkedIn lost {upload.urn} while processing it")
            state, reason = status
            if state == STATUS_AVAILABLE:
                if recorded != AVAILABLE:
                    await self._memory.remember(item, upload.record(AVAILABLE))
                return upload.urn
            if state == STATUS_FAILED:
                if recorded != FAILED:
                    failed = upload.record(FAILED)
                    detail = {**failed.detail, "error": (reason or STATUS_FAILED)[:300]}
                    await self._memory.remember(item, replace(failed, detail=detail))
                raise PlatformError(
                    ErrorClass.PERMANENT,
                    f"LinkedIn could not process media {item.media_id} ({upload.urn}): "
                    f"{reason or 'PROCESSING_FAILED, no reason given'}",
                    platform_code=STATUS_FAILED,
                )
            if time.monotonic() >= deadline:
                raise PlatformError(
                    ErrorClass.RETRY_LATER,
                    f"LinkedIn is still processing {upload.urn} ({state}); the next attempt resumes the wait",
                )
            await asyncio.sleep(self._settings.media_poll_interval_seconds)
            status = await self._status(upload)

    async def _api(
        self, method: str, path: str, body: dict[str, Any] | None, *, allow: tuple[int, ...] = ()
    ) -> httpx.Response:
        try:
            response = await self._http.request(
                method,
                f"{self._settings.rest_url}{path}",
                json=body,
                headers=rest_headers(self._settings, self._token, method="ACTION" if method == "POST" else None),
                timeout=self._settings.timeout_seconds,
            )
        except httpx.TransportError as error:
            raise classify_transport(error, creating=False) from error
        if response.status_code // 100 != 2 and response.status_code not in allow:
            raise classify_response(response, creating=False, secrets=(self._token,))
        return response

    async def _put(self, url: str, data: bytes, headers: dict[str, str]) -> httpx.Response:
        try:
            response = await self._http.put(
                url,
                content=data,
                headers={"Content-Type": "application/octet-stream", **headers},
                timeout=self._settings.upload_timeout_seconds,
            )
        except httpx.TransportError as failure:
            raise classify_transport(failure, creating=False) from failure
        if response.status_code // 100 == 2:
            return response
        refused = classify_response(response, creating=False, secrets=(self._token,))
        if refused.error_class is ErrorClass.PERMANENT:
            raise _StaleUpload(refused)  # expired, already used or refused URL: a new one may work
        raise refused

    def _still_valid(self, upload: Upload) -> bool:
        if upload.expires_at is None:
            return False
        margin = dt.timedelta(seconds=self._settings.upload_url_margin_seconds)
        return dt.datetime.now(dt.UTC) + margin < upload.expires_at


def _upload_from(kind: str, value: dict[str, Any], size: int) -> Upload:
    """Read an ``initializeUpload`` answer. Instructions must cover ``size`` bytes exactly, in order."""
    if kind == "image":
        expires = value.get("uploadUrlExpiresAt")
        instructions: tuple[Instruction, ...] = (Instruction(str(value["uploadUrl"]), 0, size - 1),)
        urn = str(value["image"])
        session = ""
    else:
        expires = value.get("uploadUrlsExpireAt")
        instructions = tuple(
            Instruction(str(i["uploadUrl"]), int(i["firstByte"]), int(i["lastByte"]))
            for i in value["uploadInstructions"]
        )
        urn = str(value["video"])
        session = str(value.get("uploadToken") or "")
        expected = 0
        for instruction in instructions:
            if instruction.first_byte != expected or instruction.last_byte < instruction.first_byte:
                raise ValueError(f"upload instructions do not cover the file in order at byte {expected}")
            expected = instruction.last_byte + 1
        if expected != size:
            raise ValueError(f"upload instructions cover {expected} bytes, the file has {size}")
    when = dt.datetime.fromtimestamp(expires / 1000, tz=dt.UTC) if isinstance(expires, int) else None
    return Upload(kind, urn, instructions, session, when)


async def _ranges(
    chunks: AsyncIterator[bytes], instructions: Sequence[Instruction]
) -> AsyncIterator[tuple[int, bytes]]:
    """Cut a byte stream into the instructions' ranges (instructions are contiguous from byte 0)."""
    buffer = bytearray()
    index = 0
    async for chunk in chunks:
        buffer += chunk
        while (
            index < len(instructions)
            and len(buffer) >= instructions[index].last_byte - instructions[index].first_byte + 1
        ):
            size = instructions[index].last_byte - instructions[index].first_byte + 1
            yield index, bytes(buffer[:size])
            del buffer[:size]
            index += 1
    if index < len(instructions):
        raise PlatformError(
            ErrorClass.PERMANENT,
            f"the stored media is shorter than LinkedIn's upload instructions (part {index + 1} incomplete)",
        )
