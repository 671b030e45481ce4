"""Publishing to a Facebook Page or an Instagram professional account, and reading posts back
(docs/platforms.md, "Meta: posting", "Meta: read-back", "Meta: media on Pages", "Instagram").

The account's :class:`~herald.contracts.media.Surface` picks the flow: ``INSTAGRAM`` accounts are IG user ids
published through containers (:mod:`herald.platforms.meta.instagram`); every other Meta account is a Page (text and
link posts here, photo and video posts in :mod:`herald.platforms.meta.pages`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx

from herald.contracts.media import Surface
from herald.contracts.platform import Platform
from herald.platforms.base import (
    Account,
    ErrorClass,
    MediaContext,
    PlatformClient,
    PlatformError,
    PreparedPost,
    PublishedPost,
)
from herald.platforms.meta.instagram import InstagramPublisher
from herald.platforms.meta.pages import PageMedia, post_message
from herald.platforms.meta.rules import normalise_message
from herald.platforms.meta.settings import MetaSettings
from herald.platforms.meta.transport import GraphTransport, next_page, segment

POST_URL = "https://www.facebook.com/{post_id}"
READ_BACK_FIELDS = "id,message,created_time"
# Read back from attempt_start - 60 s, absorbing clock skew with Meta (docs/platforms.md, "Meta: read-back").
READ_BACK_SKEW = dt.timedelta(seconds=60)


class MetaClient(PlatformClient):
    """Publishes as a Page with that Page's access token (a user token gets ``403 (#200)``)."""

    platform = Platform.META

    def __init__(self, settings: MetaSettings, http: httpx.AsyncClient) -> None:
        self._settings = settings
        self._graph = GraphTransport(settings, http)
        self._pages = PageMedia(settings, self._graph)
        self._instagram = InstagramPublisher(settings, self._graph)

    async def publish(
        self, account: Account, access_token: str, post: PreparedPost, media: MediaContext | None = None
    ) -> PublishedPost:
        """A Page post (``POST /{version}/{page-id}/feed`` with ``message`` and ``link`` →
        ``{"id": "{page_id}_{post_id}"}``, or a photo / video post), or an Instagram post."""
        if post.media and media is None:
            raise PlatformError(ErrorClass.CONFIGURATION, "a post with media was published without a media context")
        if account.surface is Surface.INSTAGRAM:
            if media is None:
                raise PlatformError(
                    ErrorClass.PERMANENT, "instagram.media_required: an Instagram post needs an image or a video"
                )
            return await self._instagram.publish(account.platform_account_id, access_token, post, media)
        if post.media and media is not None:
            return await self._pages.publish(account.platform_account_id, access_token, post, media)
        form = {"message": post.text}
        if post.link:
            form["link"] = post.link
        url = self._settings.graph(segment(account.platform_account_id), "feed")
        body = await self._graph.call("POST", url, access_token, create=True, data=form)
        post_id = body.get("id")
        if not isinstance(post_id, str) or not post_id:
            raise PlatformError(
                ErrorClass.UNKNOWN_OUTCOME, "Meta accepted the create but returned no post id", http_status=200
            )
        return PublishedPost(post_id=post_id, url=POST_URL.format(post_id=post_id))

    async def find_published(
        self, account: Account, access_token: str, post: PreparedPost, since: dt.datetime
    ) -> PublishedPost | None:
        """Scan ``GET /{version}/{page-id}/published_posts?since=`` (newest first, following paging) for the message;
        for Instagram, ``GET /{ig-user-id}/media`` for the caption."""
        if account.surface is Surface.INSTAGRAM:
            return await self._instagram.find_published(account.platform_account_id, access_token, post, since)
        url = self._settings.graph(segment(account.platform_account_id), "published_posts")
        params = {
            "since": str(int((since - READ_BACK_SKEW).timestamp())),
            "fields": READ_BACK_FIELDS,
            "limit": "100",
        }
        wanted = normalise_message(post_message(post) if post.media else post.text)
        for _ in range(self._settings.read_back_pages):
            body = await self._graph.call("GET", url, access_token, params=params)
            found = _match(_items(body), wanted)
            if found is not None:
                return found
            next_params = next_page(body)
            if next_params is None:
                return None
            params = next_params
        raise PlatformError(
            ErrorClass.RETRY_LATER,
            f"Meta read-back scanned {self._settings.read_back_pages} pages without reaching the start time",
        )


def _items(body: dict[str, Any]) -> list[dict[str, Any]]:
    data = body.get("data")
    if not isinstance(data, list):
        raise PlatformError(ErrorClass.RETRY_LATER, "Meta read-back answer has no data list")
    return [item for item in data if isinstance(item, dict)]


def _match(items: list[dict[str, Any]], wanted: str) -> PublishedPost | None:
    for item in items:
        message = item.get("message")
        post_id = item.get("id")
        if isinstance(message, str) and isinstance(post_id, str) and normalise_message(message) == wanted:
            return PublishedPost(
                post_id=post_id,
                url=POST_URL.format(post_id=post_id),
                published_at=_created_time(item.get("created_time")),
            )
    return None


def _created_time(value: Any) -> dt.datetime | None:
    """Graph timestamps look like ``2024-01-01T12:00:00+0000``."""
    if not isinstance(value, str):
        return None
    try:
        return dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        return None
