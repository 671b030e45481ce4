"""X media upload (API v2): initialize, append segments, finalize, wait for processing, alt text.

Facts and sources in docs/platforms.md, "X: media upload". Each step is recorded through
:class:`~herald.platforms.base.UploadMemory` before the next one starts, so a retry of the same distribution resumes:

* ``ready`` and still valid (``expires_at`` further than ``media_reuse_margin_seconds``): the media id is reused as is;
* ``initialized`` / ``appended`` (``detail["segments"]`` sent) and valid: the remaining segments are appended;
* ``finalized`` and valid: processing is waited for again;
* anything expired, or refused by X as unknown/expired while resuming: uploaded again from the start.

Every upload call is safe to redo (only the post create is not), so a throttled, failing or unreachable upload is
``RETRY_LATER``; a refused upload (type, size, processing ``failed``) is ``PERMANENT``. A missing ``media.write``
scope is X's "not permitted" 403: ``RECONNECT``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final

import httpx

from herald.contracts.media import MediaKind, MediaReference
from herald.platforms import http
from herald.platforms.base import ErrorClass, MediaContext, PlatformError, UploadRecord
from herald.platforms.x.errors import Call, classify, excerpt, parse_problem
from herald.platforms.x.settings import XSettings

CATEGORIES: Final = {
    MediaKind.IMAGE: "tweet_image",
    MediaKind.GIF: "tweet_gif",
    MediaKind.VIDEO: "tweet_video",
}
# "This feature is currently only supported for images and GIFs" (POST media/metadata/create reference).
ALT_TEXT_KINDS: Final = frozenset({MediaKind.IMAGE, MediaKind.GIF})
ALT_TEXT_MAX: Final = 1000
# Words X uses when a media id is unknown or dead: the upload must start over.
_STALE_MEDIA: Final = ("expired", "not a valid media id", "invalid media id", "media ids are invalid")

Send = Callable[..., Awaitable[httpx.Response]]


class StaleMedia(Exception):
    """X no longer knows a media id we recorded: start that item's upload over."""


class XMediaUploader:
    """Uploads a post's media to X through ``send`` (the client's authenticated request function)."""

    def __init__(self, settings: XSettings, send: Send, *, sleep: Callable[[float], Awaitable[None]] | None = None):
        self.settings = settings
        self.send = send
        self.sleep = sleep or asyncio.sleep

    async def upload_all(self, items: tuple[MediaReference, ...], context: MediaContext, token: str) -> list[str]:
        """X media ids for ``items``, in order (reusing what a previous attempt left valid)."""
        return [await self.upload(item, context, token) for item in items]

    async def forget(self, items: tuple[MediaReference, ...], context: MediaContext) -> None:
        """Mark every item's upload stale (X refused the ids at create time): the next upload starts over."""
        for item in items:
            record = await context.memory.recall(item)
            if record is not None:
                await context.memory.remember(item, UploadRecord(record.platform_media_id, "stale", _now(), {}))

    async def upload(self, item: MediaReference, context: MediaContext, token: str) -> str:
        record = await context.memory.recall(item)
        if record is not None and self._valid(record):
            if record.state == "ready":
                return record.platform_media_id
            try:
                return await self._resume(item, record, context, token)
            except StaleMedia:
                pass
        try:
            return await self._resume(item, await self._initialize(item, context, token), context, token)
        except StaleMedia as stale:
            raise PlatformError(ErrorClass.RETRY_LATER, f"X dropped a new media upload: {stale}") from None

    async def _resume(self, item: MediaReference, record: UploadRecord, context: MediaContext, token: str) -> str:
        if record.state in ("initialized", "appended"):
            record = await self._append(item, record, context, token)
        if record.state == "appended":
            record = await self._finalize(item, record, context, token)
        if record.state == "finalized":
            record = await self._wait(item, record, context, token)
        if record.state != "ready":
            raise StaleMedia(f"unknown recorded step {record.state!r}")
        return record.platform_media_id

    def _valid(self, record: UploadRecord) -> bool:
        if record.state == "stale":
            return False
        margin = dt.timedelta(seconds=self.settings.media_reuse_margin_seconds)
        return record.expires_at is None or record.expires_at > _now() + margin

    async def _initialize(self, item: MediaReference, context: MediaContext, token: str) -> UploadRecord:
        body = {
            "media_type": item.content_type,
            "total_bytes": item.size_bytes,
            "media_category": CATEGORIES[item.kind],
        }
        data = await self._call("POST", "media/upload/initialize", token, json=body)
        media_id = str(data.get("id") or "")
        if not media_id:
            raise _odd("initialize answered without a media id")
        record = UploadRecord(media_id, "initialized", _expires(data), {"segments": "0"})
        await context.memory.remember(item, record)
        return record

    async def _append(
        self, item: MediaReference, record: UploadRecord, context: MediaContext, token: str
    ) -> UploadRecord:
        sent = int(record.detail.get("segments", "0"))
        index = 0
        chunk_bytes = self.settings.media_segment_bytes
        async for chunk in context.source.stream(item, chunk_bytes=chunk_bytes):
            if index >= sent:
                files = {"media": ("segment", chunk, "application/octet-stream")}
                path = f"media/upload/{record.platform_media_id}/append"
                await self._call("POST", path, token, data={"segment_index": str(index)}, files=files)
                record = UploadRecord(
                    record.platform_media_id, "appended", record.expires_at, {"segments": str(index + 1)}
                )
                await context.memory.remember(item, record)
            index += 1
        if record.state != "appended":  # every segment was already sent: nothing left but FINALIZE
            record = _appended(record, index)
        return record

    async def _finalize(
        self, item: MediaReference, record: UploadRecord, context: MediaContext, token: str
    ) -> UploadRecord:
        data = await self._call("POST", f"media/upload/{record.platform_media_id}/finalize", token)
        record = UploadRecord(record.platform_media_id, "finalized", _expires(data) or record.expires_at, {})
        await context.memory.remember(item, record)
        return record

    async def _wait(
        self, item: MediaReference, record: UploadRecord, context: MediaContext, token: str
    ) -> UploadRecord:
        """Poll STATUS while processing is pending/in_progress, at X's ``check_after_secs``, for a bounded time."""
        deadline = time.monotonic() + self.settings.media_processing_max_wait_seconds
        params = {"command": "STATUS", "media_id": record.platform_media_id}
        expires_at = record.expires_at
        while True:
            data = await self._call("GET", "media/upload", token, params=params)
            expires_at = _expires(data) or expires_at
            info = data.get("processing_info")
            state = info.get("state") if isinstance(info, dict) else "succeeded"
            if state == "succeeded":
                break
            if state == "failed":
                error = info.get("error") if isinstance(info, dict) else None
                detail = error if isinstance(error, dict) else {}
                # Recorded as "failed": the pipeline counts processing failures from the upload memory.
                failed = UploadRecord(
                    record.platform_media_id, "failed", expires_at, {"error": str(detail.get("name"))}
                )
                await context.memory.remember(item, failed)
                raise PlatformError(
                    ErrorClass.PERMANENT,
                    f"X could not process media item {item.media_id} ({item.content_type}):"
                    f" {detail.get('name', 'failed')}: {detail.get('message', 'processing failed')}",
                    platform_code=str(detail.get("name") or "processing-failed"),
                )
            wait = max(float(info.get("check_after_secs") or 0) if isinstance(info, dict) else 0.0, 0.0)
            wait = max(wait, self.settings.media_min_poll_seconds)
            if time.monotonic() + wait > deadline:
                raise PlatformError(
                    ErrorClass.RETRY_LATER,
                    f"X still processing media item {item.media_id} after"
                    f" {self.settings.media_processing_max_wait_seconds:g} s (state {state})",
                )
            await self.sleep(wait)
        if item.alt_text and item.kind in ALT_TEXT_KINDS:
            body = {"id": record.platform_media_id, "metadata": {"alt_text": {"text": item.alt_text[:ALT_TEXT_MAX]}}}
            await self._call("POST", "media/metadata", token, json=body)
        ready = UploadRecord(record.platform_media_id, "ready", expires_at, {})
        await context.memory.remember(item, ready)
        return ready

    async def _call(self, method: str, path: str, token: str, **kwargs: Any) -> dict[str, Any]:
        """One upload call; its ``data`` object. A refusal naming a dead media id is :class:`StaleMedia`."""
        response = await self.send(method, path, token, Call.READ, **kwargs)
        if response.status_code in (200, 201, 202, 204):
            body = http.json_object(response)
            data = body.get("data")
            return data if isinstance(data, dict) else {}
        error = classify(response, Call.READ, secrets=[token])
        if error.error_class is not ErrorClass.PERMANENT:
            raise error
        said = _messages(response, token)
        if any(word in said.lower() for word in _STALE_MEDIA):
            raise StaleMedia(said)
        raise PlatformError(
            ErrorClass.PERMANENT,
            f"X refused the media upload ({error.platform_code}): {said}",
            http_status=error.http_status,
            platform_code=error.platform_code,
            response_excerpt=error.response_excerpt,
        )


def _messages(response: httpx.Response, token: str) -> str:
    """Every message of an X error body (the v2 problem's ``detail`` is generic; ``errors[].message`` says why)."""
    problem = parse_problem(response)
    errors = [e for e in problem.body.get("errors") or [] if isinstance(e, dict)]
    said = [str(e.get("message") or e.get("detail") or "") for e in errors] or [problem.detail or problem.title]
    return http.redact("; ".join(m for m in said if m) or excerpt(response, [token]), [token])


def _appended(record: UploadRecord, segments: int) -> UploadRecord:
    return UploadRecord(record.platform_media_id, "appended", record.expires_at, {"segments": str(segments)})


def _odd(message: str) -> PlatformError:
    return PlatformError(ErrorClass.RETRY_LATER, f"X media upload: {message}")


def _expires(data: dict[str, Any]) -> dt.datetime | None:
    seconds = data.get("expires_after_secs")
    if isinstance(seconds, int | float) and not isinstance(seconds, bool):
        return _now() + dt.timedelta(seconds=seconds)
    return None


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def is_stale_media_refusal(response: httpx.Response) -> bool:
    """A post create refused because a media id is unknown or expired (X: 400 "Your media IDs are invalid.")."""
    return response.status_code == 400 and any(word in parse_problem(response).text for word in _STALE_MEDIA)
