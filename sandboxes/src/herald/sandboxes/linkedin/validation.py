"""Schema checks of a ``POST /rest/posts`` body, reported the Rest.li way: ``ERROR :: /path :: reason`` lines.

Required fields follow https://learn.microsoft.com/en-us/linkedin/marketing/community-management/shares/posts-api
and the "unrecognized field" wording is observed; the enum and type wordings follow Rest.li's data validator and are
the sandbox's best guess.
"""

from __future__ import annotations

import re
from typing import Any

REQUIRED = ("author", "commentary", "visibility", "distribution", "lifecycleState")
TOP_LEVEL = frozenset(
    {
        *REQUIRED,
        "isReshareDisabledByAuthor",
        "content",
        "contentLandingPage",
        "contentCallToActionLabel",
        "container",
        "reshareContext",
        "adContext",
        "lifecycleStateInfo",
    }
)
DISTRIBUTION = frozenset({"feedDistribution", "targetEntities", "thirdPartyDistributionChannels"})
CONTENT = frozenset({"article", "media", "multiImage", "poll", "celebration", "reference", "carousel"})
ARTICLE = frozenset({"source", "title", "description", "thumbnail", "thumbnailAltText"})
# content.media (single image or video) and content.multiImage: the posts-api and multiimage-post-api pages.
MEDIA = frozenset({"id", "altText", "title"})
MULTI_IMAGE = frozenset({"images", "altText"})
MULTI_IMAGE_ITEM = frozenset({"id", "altText"})
MULTI_IMAGE_COUNT = (2, 20)
ASSET = re.compile(r"^urn:li:(?:image|video):[A-Za-z0-9_-]+$")
ENUMS = {
    "visibility": frozenset({"PUBLIC", "CONNECTIONS", "LOGGED_IN", "CONTAINER"}),
    "lifecycleState": frozenset({"PUBLISHED", "DRAFT", "PUBLISH_REQUESTED", "PUBLISH_FAILED"}),
}
FEED_DISTRIBUTIONS = frozenset({"MAIN_FEED", "NONE"})
AUTHOR = re.compile(r"^urn:li:(?:person:[A-Za-z0-9_-]+|organization:\d+)$")
_REQUIRED_MISSING = "field is required but not found and has no default value"
_UNRECOGNIZED = "unrecognized field found but not allowed"


def problems(body: dict[str, Any]) -> list[str]:
    """Every schema problem of the body; an empty list means it may be posted."""
    found = _fields("", body, REQUIRED, TOP_LEVEL)
    found += _author(body.get("author"))
    found += _string("/commentary", body.get("commentary"))
    for name, allowed in ENUMS.items():
        found += _enum(f"/{name}", body.get(name), allowed)
    if "isReshareDisabledByAuthor" in body and not isinstance(body["isReshareDisabledByAuthor"], bool):
        found.append(_line("/isReshareDisabledByAuthor", f"{body['isReshareDisabledByAuthor']!r} is not a boolean"))
    found += _distribution(body.get("distribution"))
    found += _content(body.get("content"))
    return found


def _fields(path: str, value: dict[str, Any], required: tuple[str, ...], allowed: frozenset[str]) -> list[str]:
    missing = [_line(f"{path}/{name}", _REQUIRED_MISSING) for name in required if name not in value]
    unknown = [_line(f"{path}/{name}", _UNRECOGNIZED) for name in value if name not in allowed]
    return missing + unknown


def _author(value: object) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, str) or not AUTHOR.match(value):
        return [_line("/author", f"{value!r} is not a valid person or organization URN")]
    return []


def _string(path: str, value: object) -> list[str]:
    if value is None or isinstance(value, str):
        return []
    return [_line(path, f"{value!r} cannot be coerced to String")]


def _enum(path: str, value: object, allowed: frozenset[str]) -> list[str]:
    if value is None or value in allowed:
        return []
    return [_line(path, f'"{value}" is not an enum symbol')]


def _distribution(value: object) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, dict):
        return [_line("/distribution", "is not a record")]
    found = _fields("/distribution", value, ("feedDistribution",), DISTRIBUTION)
    return found + _enum("/distribution/feedDistribution", value.get("feedDistribution"), FEED_DISTRIBUTIONS)


def _content(value: object) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, dict) or len(value) != 1:
        return [_line("/content", "must contain exactly one content type")]
    found = _fields("/content", value, (), CONTENT)
    if "media" in value:
        return found + _media("/content/media", value["media"], MEDIA)
    if "multiImage" in value:
        return found + _multi_image(value["multiImage"])
    article = value.get("article")
    if article is None:
        return found
    if not isinstance(article, dict):
        return [*found, _line("/content/article", "is not a record")]
    # source and title go together in the article examples of
    # https://learn.microsoft.com/en-us/linkedin/marketing/community-management/shares/posts-api
    # (title's requiredness is the sandbox's reading).
    found += _fields("/content/article", article, ("source", "title"), ARTICLE)
    return found + _string("/content/article/source", article.get("source"))


def _media(path: str, value: object, allowed: frozenset[str]) -> list[str]:
    if not isinstance(value, dict):
        return [_line(path, "is not a record")]
    found = _fields(path, value, ("id",), allowed)
    media_id = value.get("id")
    if media_id is not None and (not isinstance(media_id, str) or not ASSET.match(media_id)):
        found.append(_line(f"{path}/id", f"{media_id!r} is not a valid image or video URN"))
    return found + _string(f"{path}/altText", value.get("altText")) + _string(f"{path}/title", value.get("title"))


def _multi_image(value: object) -> list[str]:
    if not isinstance(value, dict):
        return [_line("/content/multiImage", "is not a record")]
    found = _fields("/content/multiImage", value, ("images",), MULTI_IMAGE)
    images = value.get("images")
    if images is None:
        return found
    if not isinstance(images, list):
        return [*found, _line("/content/multiImage/images", "is not an array")]
    low, high = MULTI_IMAGE_COUNT
    if not low <= len(images) <= high:
        found.append(_line("/content/multiImage/images", f"must contain between {low} and {high} images"))
    for index, image in enumerate(images):
        found += _media(f"/content/multiImage/images/{index}", image, MULTI_IMAGE_ITEM)
    return found


def media_ids(body: dict[str, Any]) -> list[str]:
    """The asset URNs a (schema-valid) post body references, in order."""
    content = body.get("content") or {}
    if "media" in content:
        return [content["media"]["id"]]
    if "multiImage" in content:
        return [image["id"] for image in content["multiImage"]["images"]]
    return []


def _line(path: str, reason: str) -> str:
    return f"ERROR :: {path} :: {reason}"
