"""Page media: ``POST /{page-id}/photos`` (published or not), ``POST /{page-id}/videos``, and the
``attached_media`` of a feed post.

https://developers.facebook.com/docs/graph-api/reference/page/photos: a photo is given by ``url`` (Facebook fetches
it) or as the multipart file ``source``; ``published=false`` uploads it without a story, to be attached to a feed
post with ``attached_media[i]={"media_fbid": "<photo id>"}``
(https://developers.facebook.com/docs/graph-api/photo-uploads). A published photo answers ``{"id", "post_id"}``.
https://developers.facebook.com/docs/graph-api/reference/page/videos: ``file_url`` or ``source``, ``description``;
answers ``{"id": "<video id>"}``. The sandbox really downloads ``url`` / ``file_url`` with httpx and checks the bytes
(image magic numbers; an MP4/MOV ``ftyp`` box).
"""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
from starlette.datastructures import UploadFile
from starlette.responses import Response

from herald.sandboxes.faults import Operation
from herald.sandboxes.ledger import StoredPost
from herald.sandboxes.meta.auth import PUBLISH_SCOPE, authenticate
from herald.sandboxes.meta.call import GraphCall
from herald.sandboxes.meta.errors import INVALID_PARAMETER, NO_SUCH_OBJECT, ErrorSpec
from herald.sandboxes.meta.injection import finish, take_fault
from herald.sandboxes.meta.media_state import Upload, VideoSession
from herald.sandboxes.meta.posts import PERMALINK, charge_page, graph_time, resolve_node

# Sandbox wording (Graph's answers to unreadable media are not documented word for word).
BAD_IMAGE = ErrorSpec(324, "(#324) Missing or invalid image file")
# Graph's code 352 for video formats it does not take (https://developers.facebook.com/docs/graph-api/guides/error-handling).
BAD_VIDEO = ErrorSpec(352, "(#352) Sorry, the video file you selected is in a format that we don't support.")
# The subcode the official SDK's chunked uploader retries on, with error_data naming the range to send.
OFFSET_MISMATCH = ErrorSpec(
    6001, "(#6001) There was a problem uploading your video file: wrong start_offset", subcode=1363037
)
FETCH_FAILED = ErrorSpec(100, "(#100) url should represent a valid URL: the file could not be downloaded ({reason})")

_IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*")


def is_image(data: bytes) -> bool:
    return any(data.startswith(magic) for magic in _IMAGE_MAGIC)


def is_jpeg(data: bytes) -> bool:
    return data.startswith(b"\xff\xd8\xff")


def is_video(data: bytes) -> bool:
    """ISO base media (MP4, MOV): a ``ftyp`` box first."""
    return len(data) >= 12 and data[4:8] == b"ftyp"


async def download(url: str, fetch_timeout: float) -> bytes:
    """GET ``url`` as Facebook's fetcher would; raises ``ValueError`` with the reason when it cannot."""
    try:
        async with httpx.AsyncClient(timeout=fetch_timeout, follow_redirects=True) as client:
            response = await client.get(url)
    except httpx.HTTPError as exc:
        raise ValueError(type(exc).__name__) from None
    if response.status_code != 200:
        raise ValueError(f"HTTP {response.status_code}")
    return response.content


async def _media_bytes(call: GraphCall, url_param: str) -> bytes:
    """The bytes of ``source`` (multipart file) or of the URL in ``url_param``."""
    if call.request.headers.get("content-type", "").startswith("multipart/form-data"):
        source = (await call.request.form()).get("source")
        if isinstance(source, UploadFile):
            return await source.read()
    url = call.param(url_param)
    if not url:
        call.fail(INVALID_PARAMETER.with_message(f"(#100) Either {url_param} or source is required"))
    try:
        return await download(url, call.sandbox.config.fetch_timeout_seconds)
    except ValueError as exc:
        return call.fail(FETCH_FAILED.with_message(FETCH_FAILED.message.format(reason=exc)))


def _published(call: GraphCall) -> bool:
    raw = (call.param("published") or "true").lower()
    if raw not in ("true", "1", "false", "0"):
        call.fail(INVALID_PARAMETER.with_message("(#100) Param published must be a boolean"))
    return raw in ("true", "1")


def _story(call: GraphCall, page_id: str, message: str, data: dict[str, Any]) -> StoredPost:
    ledger = call.sandbox.state.posts
    number = ledger.next_number()
    data = {"permalink_url": PERMALINK.format(page_id=page_id, number=number), "published": True, **data}
    return ledger.add(StoredPost(f"{page_id}_{number}", page_id, message, call.now, data))


async def create_photo(call: GraphCall, node: str) -> Response:
    """``POST /{page-id}/photos`` → ``{"id"}`` (unpublished) or ``{"id", "post_id"}`` (published)."""
    page_id = resolve_node(call, node)
    call.sandbox.media_requests[f"{page_id}/photos"] += 1
    published = _published(call)
    operation = Operation.CREATE if published else Operation.READ
    fault = await take_fault(call, operation, page_id, page_id=page_id)
    caller = authenticate(call)
    headers = charge_page(call, caller, page_id, PUBLISH_SCOPE)
    data = await _media_bytes(call, "url")
    if not is_image(data):
        call.fail(BAD_IMAGE)
    photo = Upload(str(call.sandbox.state.posts.next_number()), page_id, "photo", published, len(data), call.now)
    photo.sha256 = hashlib.sha256(data).hexdigest()
    call.sandbox.uploads[photo.id] = photo
    body: dict[str, Any] = {"id": photo.id}
    if published:
        post = _story(call, page_id, call.param("caption") or "", {"attached_media": [photo.id], "kind": "photo"})
        photo.post_id = body["post_id"] = post.id
    return await finish(call, fault, call.reply(body, headers=headers))


async def create_video(call: GraphCall, node: str) -> Response:
    """``POST /{page-id}/videos`` (``file_url`` or ``source``, ``description``) → ``{"id": "<video id>"}``, or one
    phase of a resumable upload (``upload_phase``)."""
    page_id = resolve_node(call, node)
    phase = call.param("upload_phase")
    call.sandbox.media_requests[f"{page_id}/videos" + (f":{phase}" if phase else "")] += 1
    published = _published(call)
    creates = published and phase in (None, "finish")
    fault = await take_fault(call, Operation.CREATE if creates else Operation.READ, page_id, page_id=page_id)
    caller = authenticate(call)
    headers = charge_page(call, caller, page_id, PUBLISH_SCOPE)
    if phase is not None:
        body = await _video_phase(call, page_id, phase, published)
        return await finish(call, fault, call.reply(body, headers=headers))
    data = await _media_bytes(call, "file_url")
    video = _store_video(call, page_id, data, published, str(call.sandbox.state.posts.next_number()))
    return await finish(call, fault, call.reply({"id": video.id}, headers=headers))


def _store_video(call: GraphCall, page_id: str, data: bytes, published: bool, video_id: str) -> Upload:
    if not is_video(data):
        call.fail(BAD_VIDEO)
    video = Upload(video_id, page_id, "video", published, len(data), call.now)
    video.sha256 = hashlib.sha256(data).hexdigest()
    call.sandbox.uploads[video.id] = video
    if published:
        post = _story(call, page_id, call.param("description") or "", {"video_id": video.id, "kind": "video"})
        video.post_id = post.id
    return video


async def _video_phase(call: GraphCall, page_id: str, phase: str, published: bool) -> dict[str, Any]:
    """The resumable upload: ``start`` (``file_size``) → session, video id and the first range; ``transfer``
    (``upload_session_id``, ``start_offset``, multipart ``video_file_chunk``) → the next range, equal offsets when
    all bytes are in; ``finish`` → ``{"success": true}`` and the video (and its story) exist. A transfer at another
    offset than the session's is refused with subcode 1363037 and ``error_data`` naming the range to send (as the
    official SDK's uploader expects)."""
    sandbox = call.sandbox
    if phase == "start":
        size = call.int_param("file_size", 0)
        if size <= 0:
            call.fail(INVALID_PARAMETER.with_message("(#100) Param file_size must be a positive integer"))
        number = str(sandbox.state.posts.next_number())
        started = VideoSession(f"{number}0", page_id, number, size)
        sandbox.video_sessions[started.id] = started
        return {"video_id": started.video_id, "upload_session_id": started.id, **_range(call, started)}
    session = sandbox.video_sessions.get(call.param("upload_session_id") or "")
    if session is None or session.page_id != page_id:
        call.fail(INVALID_PARAMETER.with_message("(#100) Param upload_session_id is not a valid upload session"))
    if phase == "transfer":
        offset = call.int_param("start_offset", -1)
        if offset != len(session.received):
            call.fail(OFFSET_MISMATCH.with_data(_range(call, session)))
        chunk = (await call.request.form()).get("video_file_chunk")
        if not isinstance(chunk, UploadFile):
            call.fail(INVALID_PARAMETER.with_message("(#100) The video_file_chunk file is required"))
        data = await chunk.read()
        if len(session.received) + len(data) > session.size:
            call.fail(INVALID_PARAMETER.with_message("(#100) The chunk goes past file_size"))
        session.received.extend(data)
        return _range(call, session)
    if phase == "finish":
        if session.finished:
            call.fail(INVALID_PARAMETER.with_message("(#100) This upload session is already finished"))
        if len(session.received) != session.size:
            call.fail(INVALID_PARAMETER.with_message("(#100) The upload session is missing bytes"))
        _store_video(call, page_id, bytes(session.received), published, session.video_id)
        session.finished = True
        return {"success": True}
    return call.fail(INVALID_PARAMETER.with_message("(#100) Param upload_phase must be one of start, transfer, finish"))


def _range(call: GraphCall, session: VideoSession) -> dict[str, str]:
    start = len(session.received)
    return {
        "start_offset": str(start),
        "end_offset": str(min(session.size, start + call.sandbox.config.video_chunk_bytes)),
    }


def upload_view(call: GraphCall, upload: Upload) -> Response:
    """``GET /{photo-id}`` / ``GET /{video-id}`` for the Page's own token (a deleted one is Graph's 100/33)."""
    caller = authenticate(call)
    owner = call.sandbox.directory.owner(upload.page_id)
    if caller.account not in (upload.page_id, owner):
        call.fail(NO_SUCH_OBJECT.with_message(NO_SUCH_OBJECT.message.format(method="get", node=upload.id)))
    fields = call.fields(frozenset({"id", "created_time", "published", "post_id"}), ("id",), upload.kind.title())
    values: dict[str, Any] = {
        "id": upload.id,
        "created_time": graph_time(upload.created_at),
        "published": upload.published or upload.post_id is not None,
        "post_id": upload.post_id,
    }
    return call.reply({name: values[name] for name in fields if values[name] is not None})
