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


def _line(path: str, reason: str) -> str:
    return f"ERROR :: {path} :: {reason}"
