"""The JSON LinkedIn's Posts API exchanges: the create body, and the fields of a listed post (docs/platforms.md,
"LinkedIn: posting" and "LinkedIn: read-back")."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from herald.contracts.media import MediaKind
from herald.platforms.base import PreparedPost, PublishedPost

ARTICLE_TITLE_LIMIT = 200


def create_body(author: str, post: PreparedPost, media_urns: Sequence[str] = ()) -> dict[str, Any]:
    """``POST /rest/posts`` body. ``author`` is ``urn:li:person:…`` or ``urn:li:organization:…``.

    ``media_urns`` are the uploaded (``AVAILABLE``) assets of ``post.media``, in the same order: one image or video
    goes in ``content.media``, 2 to 20 images in ``content.multiImage`` (docs/platforms.md, "LinkedIn: media").
    """
    body: dict[str, Any] = {
        "author": author,
        "commentary": post.text,
        "visibility": "PUBLIC",
        "distribution": {"feedDistribution": "MAIN_FEED", "targetEntities": [], "thirdPartyDistributionChannels": []},
        "lifecycleState": "PUBLISHED",
        "isReshareDisabledByAuthor": False,
    }
    if media_urns:
        body["content"] = media_content(post, media_urns)
    elif post.link:
        body["content"] = {"article": {"source": post.link, "title": article_title(post.link)}}
    return body


def media_content(post: PreparedPost, media_urns: Sequence[str]) -> dict[str, Any]:
    """``content.media`` ``{id, altText}`` (an image), ``{id}`` (a video) or ``content.multiImage.images[]``."""
    items = list(zip(post.media, media_urns, strict=True))
    if len(items) == 1:
        media, urn = items[0]
        single: dict[str, Any] = {"id": urn}
        if media.alt_text and media.kind is not MediaKind.VIDEO:  # altText is an image field
            single["altText"] = media.alt_text
        return {"media": single}
    images = []
    for media, urn in items:
        image: dict[str, Any] = {"id": urn}
        if media.alt_text:
            image["altText"] = media.alt_text
        images.append(image)
    return {"multiImage": {"images": images}}


def article_title(link: str) -> str:
    """The article card's title. LinkedIn does not scrape the page (docs/platforms.md, "LinkedIn: posting") and a
    draft has no title, so
    the card shows where the link goes (host and path), which is never wrong.

    Whether ``title`` is required is not certain; the documented example sends it, so do we.
    """
    parts = urlsplit(link)
    title = f"{parts.netloc}{parts.path}".rstrip("/") or link
    return title[:ARTICLE_TITLE_LIMIT]


def post_url(web_base_url: str, urn: str) -> str:
    return f"{web_base_url.rstrip('/')}/feed/update/{urn}"


def published_from(element: dict[str, Any], web_base_url: str) -> PublishedPost:
    """A listed post as a :class:`PublishedPost`."""
    urn = str(element["id"])
    when = millis(element.get("publishedAt")) or millis(element.get("createdAt"))
    return PublishedPost(post_id=urn, url=post_url(web_base_url, urn), published_at=when)


def millis(value: object) -> dt.datetime | None:
    """LinkedIn timestamps are epoch milliseconds."""
    if not isinstance(value, int) or isinstance(value, bool):
        return None
    return dt.datetime.fromtimestamp(value / 1000, tz=dt.UTC)
