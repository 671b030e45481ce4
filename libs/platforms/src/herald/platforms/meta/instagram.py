"""Publishing to an Instagram professional account through the Graph API (docs/platforms.md, "Instagram").

The account id is the IG user id; the token is the linked Page's token. Instagram fetches media from a URL, so
every container is created from a presigned URL of Herald's object store:

1. a container: ``POST /{ig-user-id}/media`` with ``image_url`` (JPEG), or ``media_type=REELS`` + ``video_url``;
   for a carousel, one child per item (``is_carousel_item=true``; videos as ``media_type=VIDEO``) then a
   ``media_type=CAROUSEL`` container with ``children``. Each container id is recorded (:class:`UploadMemory`)
   before anything depends on it, with its 24-hour expiry, so a retry reuses it;
2. ``GET /{container-id}?fields=status_code,status`` until ``FINISHED``: ``ERROR`` is permanent (with Instagram's
   status text) unless Instagram failed to download Herald's URL (retried later with new containers: the store
   may have been briefly away, and nothing was created), ``EXPIRED`` makes new containers, still ``IN_PROGRESS``
   after ``container_wait_seconds`` is retried later (the next attempt polls the same container);
3. ``GET /{ig-user-id}/content_publishing_limit?fields=quota_usage,config``: at the limit, ``RETRY_LATER`` at the
   time the moving window frees a slot;
4. ``POST /{ig-user-id}/media_publish`` with ``creation_id`` → the IG media id, recorded at once.

A container already ``PUBLISHED`` (an attempt killed after step 4) is looked up with the read-back instead of
being published again.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from typing import Any

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
from herald.platforms.meta.pages import post_message
from herald.platforms.meta.rules import normalise_message
from herald.platforms.meta.settings import MetaSettings
from herald.platforms.meta.transport import GraphTransport, next_page, segment

CONTAINER = "container"  # the container to publish (single image or reel, or the carousel itself)
CAROUSEL_ITEM = "carousel_item"  # a child container; the first item's record also names the carousel
PUBLISHED = "published"  # media_publish answered: detail["media_id"]
DOWNLOAD_FAILED = "download_failed"  # the container errored fetching our URL: never reused, a new one is made
# How an ERROR container's status says Instagram could not fetch the URL (docs/platforms.md, "Instagram: publishing
# limit and errors"): the download subcodes, or the text Graph puts in ``status``. Content errors stay permanent.
_DOWNLOAD_FAILED_STATUS = ("download has failed", "too long to download", "could not be fetched", "2207052", "2207003")
FAILED = "failed"  # Instagram could not process it (container ERROR): the publisher counts these
READ_BACK_FIELDS = "id,caption,timestamp,permalink"
READ_BACK_SKEW = dt.timedelta(seconds=60)
# When the window frees is not reported: the oldest post still inside it tells (one page of recent media).
WINDOW_FALLBACK = dt.timedelta(hours=1)


class ContainerExpired(Exception):
    """The container to publish expired: make new ones."""


class ContainerDownloadFailed(Exception):
    """Instagram could not download Herald's media URL: the containers are dropped and the post retried later."""

    def __init__(self, container_id: str, status: str) -> None:
        super().__init__(container_id)
        self.container_id = container_id
        self.status = status


class InstagramPublisher:
    """Creates, waits for and publishes Instagram containers; reads an account's media back."""

    def __init__(self, settings: MetaSettings, graph: GraphTransport) -> None:
        self._settings = settings
        self._graph = graph

    async def publish(self, ig_user_id: str, token: str, post: PreparedPost, media: MediaContext) -> PublishedPost:
        try:
            return await self._publish_post(ig_user_id, token, post, media)
        except PlatformError as failed:
            await check_store_on_download_failure(failed, media, post.media)
            raise

    async def _publish_post(
        self, ig_user_id: str, token: str, post: PreparedPost, media: MediaContext
    ) -> PublishedPost:
        items = post.media
        if not items:
            raise PlatformError(
                ErrorClass.PERMANENT, "instagram.media_required: an Instagram post needs an image or a video"
            )
        if any(item.kind is MediaKind.GIF for item in items):
            raise PlatformError(ErrorClass.PERMANENT, "instagram.gif: Instagram does not take GIFs")
        first = await media.memory.recall(items[0])
        if first is not None and first.state == PUBLISHED and first.detail.get("media_id"):
            return await self._result(first.detail["media_id"], token)
        caption = post_message(post)
        fresh = False
        for _ in range(2):  # a container that expired while we waited is made again, once
            container_id, created_at = await self._container(ig_user_id, token, items, caption, media, fresh=fresh)
            try:
                status = await self._wait(container_id, token)
            except ContainerExpired:
                fresh = True
                continue
            except ContainerDownloadFailed as failed:
                await self._forget(items, media)
                raise PlatformError(
                    ErrorClass.RETRY_LATER,
                    f"instagram.download_failed: Instagram could not download the media: {failed.status}"[:300],
                    platform_code="container_download_failed",
                ) from None
            except PlatformError as error:
                if error.platform_code == "container_error":
                    await self._record_failure(items, container_id, token, media, error.message)
                raise
            if status == "PUBLISHED":
                return await self._already_published(ig_user_id, token, post, created_at)
            return await self._publish(ig_user_id, token, container_id, items[0], media)
        raise PlatformError(ErrorClass.RETRY_LATER, "Instagram containers expired twice in one attempt")

    # -- containers -------------------------------------------------------------------------------------------

    async def _container(
        self,
        ig_user_id: str,
        token: str,
        items: tuple[MediaReference, ...],
        caption: str,
        media: MediaContext,
        *,
        fresh: bool,
    ) -> tuple[str, dt.datetime]:
        """The id of the container to publish (and when it was made), reusing recorded ones still valid."""
        if len(items) == 1:
            record = None if fresh else self._valid(await media.memory.recall(items[0]), CONTAINER)
            if record is not None:
                return record.platform_media_id, _created(record)
            form = _item_form(items[0], carousel_item=False) | {"caption": caption}
            return await self._create(ig_user_id, token, items[0], form, media, CONTAINER)
        children: list[str] = []
        oldest = dt.datetime.now(dt.UTC)
        for item in items:
            record = None if fresh else self._valid(await media.memory.recall(item), CAROUSEL_ITEM)
            if record is None:
                child, made = await self._create(
                    ig_user_id, token, item, _item_form(item, carousel_item=True), media, CAROUSEL_ITEM
                )
            else:
                child, made = record.platform_media_id, _created(record)
            children.append(child)
            oldest = min(oldest, made)
        joined = ",".join(children)
        head = await media.memory.recall(items[0])
        if head is not None and head.detail.get("carousel") and head.detail.get("children") == joined:
            return head.detail["carousel"], oldest
        form = {"media_type": "CAROUSEL", "children": joined, "caption": caption}
        carousel = await self._post_container(ig_user_id, token, form)
        assert head is not None  # the first child was just recorded
        detail = {**head.detail, "carousel": carousel, "children": joined}
        await media.memory.remember(items[0], _with(head, detail=detail))
        return carousel, oldest

    async def _create(
        self,
        ig_user_id: str,
        token: str,
        item: MediaReference,
        form: dict[str, str],
        media: MediaContext,
        state: str,
    ) -> tuple[str, dt.datetime]:
        url_param = "video_url" if item.kind is MediaKind.VIDEO else "image_url"
        form[url_param] = media.source.presigned_url(item, expires_in_seconds=self._settings.media_url_seconds)
        now = dt.datetime.now(dt.UTC)
        container_id = await self._post_container(ig_user_id, token, form)
        expires_at = now + dt.timedelta(seconds=self._settings.container_reuse_seconds)
        record = UploadRecord(container_id, state, expires_at=expires_at, detail={"created_at": now.isoformat()})
        await media.memory.remember(item, record)
        return container_id, now

    async def _record_failure(
        self, items: tuple[MediaReference, ...], container_id: str, token: str, media: MediaContext, reason: str
    ) -> None:
        """Record ``failed`` for each item Instagram could not process: the item of a single container, or the
        carousel's children in ERROR (the first item when no child is, e.g. the carousel container itself failed)."""
        failed: list[tuple[MediaReference, str]] = []
        if len(items) > 1:
            for item in items:
                record = await media.memory.recall(item)
                if record is None or record.state != CAROUSEL_ITEM:
                    continue
                url = self._settings.graph(segment(record.platform_media_id))
                body = await self._graph.call("GET", url, token, params={"fields": "status_code"})
                if body.get("status_code") == "ERROR":
                    failed.append((item, record.platform_media_id))
        for item, failed_container in failed or [(items[0], container_id)]:
            detail = {"container": failed_container, "error": reason[:300]}
            await media.memory.remember(item, UploadRecord(failed_container, FAILED, detail=detail))

    async def _post_container(self, ig_user_id: str, token: str, form: dict[str, str]) -> str:
        # Not a create: an unpublished container shows nowhere and expires by itself.
        url = self._settings.graph(segment(ig_user_id), "media")
        body = await self._graph.call("POST", url, token, data=form, fetches=True)
        container_id = body.get("id")
        if not isinstance(container_id, str) or not container_id:
            raise PlatformError(ErrorClass.RETRY_LATER, "Instagram created a container but returned no id")
        return container_id

    @staticmethod
    async def _forget(items: tuple[MediaReference, ...], media: MediaContext) -> None:
        """Mark the recorded containers unusable: an errored container stays errored, the retry makes new ones."""
        for item in items:
            record = await media.memory.recall(item)
            if record is not None and record.state in (CONTAINER, CAROUSEL_ITEM):
                await media.memory.remember(
                    item, UploadRecord(record.platform_media_id, DOWNLOAD_FAILED, detail=record.detail)
                )

    @staticmethod
    def _valid(record: UploadRecord | None, state: str) -> UploadRecord | None:
        if record is None or record.state != state:
            return None
        if record.expires_at is not None and record.expires_at <= dt.datetime.now(dt.UTC):
            return None
        return record

    async def _wait(self, container_id: str, token: str) -> str:
        """Poll until FINISHED (or PUBLISHED); ERROR → PERMANENT, or :class:`ContainerDownloadFailed` when Instagram
        could not fetch the URL; EXPIRED → :class:`ContainerExpired`."""
        url = self._settings.graph(segment(container_id))
        deadline = time.monotonic() + self._settings.container_wait_seconds
        while True:
            body = await self._graph.call("GET", url, token, params={"fields": "status_code,status"})
            code = body.get("status_code")
            if code in ("FINISHED", "PUBLISHED"):
                return str(code)
            if code == "EXPIRED":
                raise ContainerExpired(container_id)
            if code == "ERROR":
                text = str(body.get("status", ""))
                if any(part in text.lower() for part in _DOWNLOAD_FAILED_STATUS):
                    raise ContainerDownloadFailed(container_id, text)
                raise PlatformError(
                    ErrorClass.PERMANENT,
                    f"instagram.container_error: Instagram could not process the media: {body.get('status', '')}"[:300],
                    platform_code="container_error",
                )
            if time.monotonic() >= deadline:
                retry_at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=self._settings.container_poll_seconds)
                raise PlatformError(
                    ErrorClass.RETRY_LATER,
                    f"Instagram is still processing container {container_id} ({code})",
                    retry_at=retry_at,
                )
            await asyncio.sleep(self._settings.container_poll_seconds)

    # -- publishing -------------------------------------------------------------------------------------------

    async def _publish(
        self, ig_user_id: str, token: str, container_id: str, head: MediaReference, media: MediaContext
    ) -> PublishedPost:
        await self._check_limit(ig_user_id, token)
        url = self._settings.graph(segment(ig_user_id), "media_publish")
        try:
            body = await self._graph.call("POST", url, token, create=True, data={"creation_id": container_id})
        except PlatformError as exc:
            if exc.platform_code == "9/2207042":  # over the limit after all (a post made elsewhere meanwhile)
                exc.retry_at = await self._window_frees(ig_user_id, token, None)
            raise
        media_id = body.get("id")
        if not isinstance(media_id, str) or not media_id:
            raise PlatformError(
                ErrorClass.UNKNOWN_OUTCOME, "Instagram accepted media_publish but returned no id", http_status=200
            )
        recorded = await media.memory.recall(head)
        detail = {**(recorded.detail if recorded else {}), "media_id": media_id, "container": container_id}
        await media.memory.remember(head, UploadRecord(container_id, PUBLISHED, detail=detail))
        return await self._result(media_id, token)

    async def _check_limit(self, ig_user_id: str, token: str) -> None:
        url = self._settings.graph(segment(ig_user_id), "content_publishing_limit")
        body = await self._graph.call("GET", url, token, params={"fields": "quota_usage,config"})
        data = body.get("data")
        entry = data[0] if isinstance(data, list) and data and isinstance(data[0], dict) else {}
        usage, config = entry.get("quota_usage"), entry.get("config")
        total = config.get("quota_total") if isinstance(config, dict) else None
        duration = config.get("quota_duration") if isinstance(config, dict) else None
        if isinstance(usage, int) and isinstance(total, int) and usage >= total:
            window = dt.timedelta(seconds=duration) if isinstance(duration, int) and duration > 0 else None
            raise PlatformError(
                ErrorClass.RETRY_LATER,
                f"instagram.publishing_limit: {usage} of {total} posts published in the moving window",
                platform_code="publishing_limit",
                retry_at=await self._window_frees(ig_user_id, token, window),
            )

    async def _window_frees(self, ig_user_id: str, token: str, window: dt.timedelta | None) -> dt.datetime:
        """When the oldest post of the moving window leaves it (one page of recent media), else in an hour."""
        window = window or dt.timedelta(hours=24)
        now = dt.datetime.now(dt.UTC)
        url = self._settings.graph(segment(ig_user_id), "media")
        try:
            body = await self._graph.call("GET", url, token, params={"fields": "timestamp", "limit": "100"})
        except PlatformError:
            return now + WINDOW_FALLBACK
        stamps = [_timestamp(item.get("timestamp")) for item in _items(body)]
        inside = [stamp for stamp in stamps if stamp is not None and now - stamp < window]
        return min(inside) + window if inside else now + WINDOW_FALLBACK

    async def _already_published(
        self, ig_user_id: str, token: str, post: PreparedPost, since: dt.datetime
    ) -> PublishedPost:
        found = await self.find_published(ig_user_id, token, post, since)
        if found is None:
            raise PlatformError(
                ErrorClass.UNKNOWN_OUTCOME, "Instagram says the container is published but its media is not found"
            )
        return found

    async def _result(self, media_id: str, token: str) -> PublishedPost:
        """The published media with its permalink (a failed lookup only loses the URL)."""
        try:
            body = await self._graph.call(
                "GET", self._settings.graph(segment(media_id)), token, params={"fields": "permalink,timestamp"}
            )
        except PlatformError:
            return PublishedPost(post_id=media_id)
        permalink = body.get("permalink")
        return PublishedPost(
            post_id=media_id,
            url=permalink if isinstance(permalink, str) else None,
            published_at=_timestamp(body.get("timestamp")),
        )

    # -- read-back --------------------------------------------------------------------------------------------

    async def find_published(
        self, ig_user_id: str, token: str, post: PreparedPost, since: dt.datetime
    ) -> PublishedPost | None:
        """Scan ``GET /{ig-user-id}/media`` (newest first) back to ``since`` for the caption."""
        url = self._settings.graph(segment(ig_user_id), "media")
        params: dict[str, str] = {"fields": READ_BACK_FIELDS, "limit": "50"}
        wanted = normalise_message(post_message(post))
        oldest = since - READ_BACK_SKEW
        for _ in range(self._settings.read_back_pages):
            body = await self._graph.call("GET", url, token, params=params)
            for item in _items(body):
                stamp = _timestamp(item.get("timestamp"))
                if stamp is not None and stamp < oldest:
                    return None
                caption, media_id = item.get("caption"), item.get("id")
                if isinstance(caption, str) and isinstance(media_id, str) and normalise_message(caption) == wanted:
                    permalink = item.get("permalink")
                    return PublishedPost(
                        post_id=media_id, url=permalink if isinstance(permalink, str) else None, published_at=stamp
                    )
            next_params = next_page(body)
            if next_params is None:
                return None
            params = next_params
        raise PlatformError(
            ErrorClass.RETRY_LATER,
            f"Instagram read-back scanned {self._settings.read_back_pages} pages without reaching the start time",
        )


def _item_form(item: MediaReference, *, carousel_item: bool) -> dict[str, str]:
    form: dict[str, str] = {}
    if item.kind is MediaKind.VIDEO:
        form["media_type"] = "VIDEO" if carousel_item else "REELS"
    if carousel_item:
        form["is_carousel_item"] = "true"
    if item.alt_text and item.kind is MediaKind.IMAGE and not carousel_item:
        form["alt_text"] = item.alt_text  # image posts only (Content Publishing guide, March 2025)
    return form


def _with(record: UploadRecord, *, detail: dict[str, str]) -> UploadRecord:
    return UploadRecord(record.platform_media_id, record.state, expires_at=record.expires_at, detail=detail)


def _created(record: UploadRecord) -> dt.datetime:
    try:
        return dt.datetime.fromisoformat(record.detail["created_at"])
    except (KeyError, ValueError):
        return dt.datetime.now(dt.UTC) - dt.timedelta(hours=24)


def _items(body: dict[str, Any]) -> list[dict[str, Any]]:
    data = body.get("data")
    if not isinstance(data, list):
        raise PlatformError(ErrorClass.RETRY_LATER, "Instagram media answer has no data list")
    return [item for item in data if isinstance(item, dict)]


def _timestamp(value: Any) -> dt.datetime | None:
    """Graph timestamps look like ``2024-01-01T12:00:00+0000``."""
    if not isinstance(value, str):
        return None
    try:
        return dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        return None
