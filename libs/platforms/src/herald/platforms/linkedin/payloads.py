"""The JSON LinkedIn's Posts API exchanges: the create body, and the fields of a listed post (docs/platforms.md,
"LinkedIn: posting" and "LinkedIn: read-back")."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlsplit

from herald.platforms.base import PreparedPost, PublishedPost

ARTICLE_TITLE_LIMIT = 200


def create_body(author: str, post: PreparedPost) -> dict[str, Any]:
    """``POST /rest/posts`` body. ``author`` is ``urn:li:person:…`` or ``urn:li:organization:…``."""
    body: dict[str, Any] = {
        "author": author,
        "commentary": post.text,
        "visibility": "PUBLIC",
        "distribution": {"feedDistribution": "MAIN_FEED", "targetEntities": [], "thirdPartyDistributionChannels": []},
        "lifecycleState": "PUBLISHED",
        "isReshareDisabledByAuthor": False,
    }
    if post.link:
        body["content"] = {"article": {"source": post.link, "title": article_title(post.link)}}
    return body


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
