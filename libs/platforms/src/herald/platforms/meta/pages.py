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

from herald.contracts.media import MediaKind, MediaReference
from herald.platforms.base import (
    ErrorClass,
    MediaContext,
    PlatformError,
    PreparedPost,
    PublishedPost,
    UploadRecord,
)
from herald.platforms.meta.settings import MetaSettings
from herald.platforms.meta.transport import GraphTransport, segment

POST_URL = "https://www.facebook.com/{post_id}"
VIDEO_URL = "https://www.facebook.com/{page_id}/videos/{video_id}"

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
            "POST", self._settings.graph(segment(page_id), "photos"), token, create=True, data=form
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
        body = await self._graph.call("POST", self._settings.graph(segment(page_id), "photos"), token, data=form)
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
        form = {"file_url": self._url(media, item), "description": post_message(post)}
        body = await self._graph.call(
            "POST", self._settings.graph(segment(page_id), "videos"), token, create=True, data=form
        )
        video_id = _string(body, "id")
        url = VIDEO_URL.format(page_id=page_id, video_id=video_id)
        record = UploadRecord(platform_media_id=video_id, state=PUBLISHED, detail={"post_id": video_id, "url": url})
        await media.memory.remember(item, record)
        return _published(page_id, record)

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
