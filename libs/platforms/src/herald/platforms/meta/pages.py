"""Facebook Page posts with media (docs/platforms.md, "Meta: media on Pages").

* one photo: ``POST /{page-id}/photos`` with ``url`` (a presigned URL Facebook fetches), ``caption``,
  ``published=true`` → ``{"id": "<photo id>", "post_id": "<page post id>"}``;
* several photos: each ``POST /{page-id}/photos`` with ``published=false`` → photo ids (recorded, so a retry reuses
  them while they still exist), then ``POST /{page-id}/feed`` with ``message`` and
  ``attached_media[i]={"media_fbid": "<photo id>"}``;
* one video: ``POST /{page-id}/videos`` with ``file_url`` and ``description`` → ``{"id": "<video id>"}``.

Whatever was published is recorded too, so an attempt that lost the answer of a create it made (publisher killed
after the call) returns that post instead of posting again.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from herald.contracts.media import MediaKind, MediaReference
from herald.platforms.base import (
    ErrorClass,
    MediaContext,
    PlatformError,
    PreparedPost,
    PublishedPost,
    UploadRecord,
)
from herald.platforms.meta.errors import check_store_on_download_failure
from herald.platforms.meta.settings import MetaSettings
from herald.platforms.meta.transport import GraphTransport, segment

POST_URL = "https://www.facebook.com/{post_id}"
VIDEO_URL = "https://www.facebook.com/{page_id}/videos/{video_id}"

VIDEO_SESSION = "video_session"  # a resumable video upload: detail["session"], detail["offset"] reached
MAX_OFFSET_MISMATCHES = 3
# Graph's answer to a transfer at an offset the session does not expect; error_data names the range it wants
# (facebook-business video_uploader.py retries on it).
OFFSET_MISMATCH_SUBCODE = "1363037"
UNPUBLISHED_PHOTO = "unpublished_photo"  # uploaded with published=false, waiting to be attached
PUBLISHED = "published"  # the post exists: detail["post_id"]


def post_message(post: PreparedPost) -> str:
    """The text of a media post: photo and video posts carry no ``link`` field, so the link goes in the text."""
    if post.link and post.link not in post.text:
        return f"{post.text}\n\n{post.link}"
    return post.text


class PageMedia:
    """Publishes photo and video posts as a Page (with the Page's token)."""

    def __init__(self, settings: MetaSettings, graph: GraphTransport) -> None:
        self._settings = settings
        self._graph = graph

    async def publish(self, page_id: str, token: str, post: PreparedPost, media: MediaContext) -> PublishedPost:
        try:
            return await self._publish(page_id, token, post, media)
        except PlatformError as failed:
            await check_store_on_download_failure(failed, media, post.media)
            raise

    async def _publish(self, page_id: str, token: str, post: PreparedPost, media: MediaContext) -> PublishedPost:
        items = post.media
        done = await media.memory.recall(items[0])
        if done is not None and done.state == PUBLISHED and done.detail.get("post_id"):
            return _published(page_id, done)
        if any(item.kind is MediaKind.VIDEO for item in items):
            if len(items) != 1:
                raise PlatformError(
                    ErrorClass.PERMANENT,
                    f"meta.page_media_mix: a Page post carries one video or photos only, not {len(items)} items "
                    "with a video",
                )
            return await self._video(page_id, token, post, media)
        if len(items) == 1:
            return await self._photo(page_id, token, post, media)
        return await self._photos(page_id, token, post, media)

    async def _photo(self, page_id: str, token: str, post: PreparedPost, media: MediaContext) -> PublishedPost:
        item = post.media[0]
        form = {"url": self._url(media, item), "caption": post_message(post), "published": "true"}
        body = await self._graph.call(
            "POST", self._settings.graph(segment(page_id), "photos"), token, create=True, data=form, fetches=True
        )
        photo_id, post_id = _string(body, "id"), _string(body, "post_id") or _string(body, "id")
        record = UploadRecord(platform_media_id=photo_id, state=PUBLISHED, detail={"post_id": post_id})
        await media.memory.remember(item, record)
        return _published(page_id, record)

    async def _photos(self, page_id: str, token: str, post: PreparedPost, media: MediaContext) -> PublishedPost:
        photo_ids = [await self._unpublished(page_id, token, item, media) for item in post.media]
        form = {"message": post_message(post)}
        for index, photo_id in enumerate(photo_ids):
            form[f"attached_media[{index}]"] = json.dumps({"media_fbid": photo_id})
        body = await self._graph.call(
            "POST", self._settings.graph(segment(page_id), "feed"), token, create=True, data=form
        )
        record = UploadRecord(platform_media_id=photo_ids[0], state=PUBLISHED, detail={"post_id": _string(body, "id")})
        await media.memory.remember(post.media[0], record)
        return _published(page_id, record)

    async def _unpublished(self, page_id: str, token: str, item: MediaReference, media: MediaContext) -> str:
        """A photo uploaded with ``published=false``: the recorded one if Facebook still has it, else a new one."""
        known = await media.memory.recall(item)
        if (
            known is not None
            and known.state == UNPUBLISHED_PHOTO
            and await self._exists(known.platform_media_id, token)
        ):
            return known.platform_media_id
        form = {"url": self._url(media, item), "published": "false"}
        # Not a create: an unpublished photo shows nowhere, so a lost answer costs an orphan, never a duplicate.
        body = await self._graph.call(
            "POST", self._settings.graph(segment(page_id), "photos"), token, data=form, fetches=True
        )
        photo_id = _string(body, "id", create=False)
        await media.memory.remember(item, UploadRecord(platform_media_id=photo_id, state=UNPUBLISHED_PHOTO))
        return photo_id

    async def _exists(self, object_id: str, token: str) -> bool:
        try:
            await self._graph.call("GET", self._settings.graph(segment(object_id)), token, params={"fields": "id"})
        except PlatformError as exc:
            if exc.error_class is ErrorClass.PERMANENT:  # (#100) subcode 33: no such object (any more)
                return False
            raise
        return True

    async def _video(self, page_id: str, token: str, post: PreparedPost, media: MediaContext) -> PublishedPost:
        item = post.media[0]
        if item.size_bytes > self._settings.video_resumable_above_bytes:
            return await self._video_resumable(page_id, token, post, media)
        form = {"file_url": self._url(media, item), "description": post_message(post)}
        body = await self._graph.call(
            "POST", self._settings.graph(segment(page_id), "videos"), token, create=True, data=form, fetches=True
        )
        video_id = _string(body, "id")
        url = VIDEO_URL.format(page_id=page_id, video_id=video_id)
        record = UploadRecord(platform_media_id=video_id, state=PUBLISHED, detail={"post_id": video_id, "url": url})
        await media.memory.remember(item, record)
        return _published(page_id, record)

    async def _video_resumable(
        self, page_id: str, token: str, post: PreparedPost, media: MediaContext
    ) -> PublishedPost:
        """``upload_phase=start`` (``file_size``) → session; ``transfer`` each range Facebook asks for (the offset
        reached is recorded after every chunk, so a retry resumes there); ``finish`` with the description."""
        item = post.media[0]
        url = self._settings.graph(segment(page_id), "videos")
        known = await media.memory.recall(item)
        end: int | None = None
        if known is not None and known.state == VIDEO_SESSION:
            video_id, session, offset = known.platform_media_id, known.detail["session"], int(known.detail["offset"])
        else:
            start = {"upload_phase": "start", "file_size": str(item.size_bytes)}
            body = await self._graph.call("POST", url, token, data=start)
            video_id, session = (
                _string(body, "video_id", create=False),
                _string(body, "upload_session_id", create=False),
            )
            offset, end = _offset(body, "start_offset"), _offset(body, "end_offset")
            await self._remember_session(media, item, video_id, session, offset)
        reader = _Reader(media.source.stream(item, chunk_bytes=self._settings.video_chunk_bytes))
        mismatches = 0
        while offset < item.size_bytes:
            stop = (
                end
                if end is not None and end > offset
                else min(item.size_bytes, offset + self._settings.video_chunk_bytes)
            )
            if offset < reader.position:  # Facebook wants bytes we already passed: read the object again
                reader = _Reader(media.source.stream(item, chunk_bytes=self._settings.video_chunk_bytes))
            chunk = await reader.read(offset, stop)
            form = {"upload_phase": "transfer", "upload_session_id": session, "start_offset": str(offset)}
            try:
                body = await self._graph.call(
                    "POST",
                    url,
                    token,
                    data=form,
                    files={"video_file_chunk": ("chunk", chunk, "application/octet-stream")},
                )
            except PlatformError as exc:
                expected = _expected_range(exc)
                mismatches += 1
                if expected is None or mismatches > MAX_OFFSET_MISMATCHES:
                    raise
                offset, end = expected  # Facebook has more (or less) than we recorded: send what it asks for
                continue
            offset, end = _offset(body, "start_offset"), _offset(body, "end_offset")
            await self._remember_session(media, item, video_id, session, offset)
            if offset >= end:
                break
        finish = {"upload_phase": "finish", "upload_session_id": session, "description": post_message(post)}
        await self._graph.call("POST", url, token, create=True, data=finish)
        video_url = VIDEO_URL.format(page_id=page_id, video_id=video_id)
        record = UploadRecord(
            platform_media_id=video_id, state=PUBLISHED, detail={"post_id": video_id, "url": video_url}
        )
        await media.memory.remember(item, record)
        return _published(page_id, record)

    @staticmethod
    async def _remember_session(
        media: MediaContext, item: MediaReference, video_id: str, session: str, offset: int
    ) -> None:
        detail = {"session": session, "offset": str(offset)}
        await media.memory.remember(item, UploadRecord(platform_media_id=video_id, state=VIDEO_SESSION, detail=detail))

    def _url(self, media: MediaContext, item: MediaReference) -> str:
        return media.source.presigned_url(item, expires_in_seconds=self._settings.media_url_seconds)


def _published(page_id: str, record: UploadRecord) -> PublishedPost:
    post_id = record.detail["post_id"]
    return PublishedPost(post_id=post_id, url=record.detail.get("url") or POST_URL.format(post_id=post_id))


def _string(body: dict[str, object], key: str, *, create: bool = True) -> str:
    """``body[key]``; a missing ``id`` after a create leaves the outcome unknown (after an upload: retry)."""
    value = body.get(key)
    if key == "id" and (not isinstance(value, str) or not value):
        error_class = ErrorClass.UNKNOWN_OUTCOME if create else ErrorClass.RETRY_LATER
        raise PlatformError(error_class, "Meta accepted the call but returned no id", http_status=200)
    return value if isinstance(value, str) else ""


def _offset(body: dict[str, object], key: str) -> int:
    value = body.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    raise PlatformError(ErrorClass.RETRY_LATER, f"Meta's video upload answer has no {key}", http_status=200)


def _expected_range(error: PlatformError) -> tuple[int, int] | None:
    """The ``error_data`` range of an offset mismatch (subcode 1363037), read from the error's excerpt."""
    if not (error.platform_code or "").endswith(f"/{OFFSET_MISMATCH_SUBCODE}"):
        return None
    try:
        data = json.loads(error.response_excerpt)["error"]["error_data"]
        return int(data["start_offset"]), int(data["end_offset"])
    except (ValueError, KeyError, TypeError):
        return None


class _Reader:
    """Forward-only reads of byte ranges from an object's chunk stream, holding at most one range in memory."""

    def __init__(self, chunks: AsyncIterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = bytearray()
        self.position = 0  # the object offset of _buffer[0]

    async def read(self, start: int, stop: int) -> bytes:
        while self.position + len(self._buffer) < stop:
            if self.position + len(self._buffer) <= start:  # all of it is before the range: drop it
                self.position += len(self._buffer)
                self._buffer.clear()
            try:
                self._buffer.extend(await anext(self._chunks))
            except StopAsyncIteration:
                break
        drop = max(0, start - self.position)
        del self._buffer[:drop]
        self.position += drop
        return bytes(self._buffer[: stop - start])
