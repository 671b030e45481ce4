"""How LinkedIn shows a ``commentary`` written in little text format.

https://learn.microsoft.com/en-us/linkedin/marketing/community-management/shares/little-text-format

Escaped reserved characters show as themselves, ``@[Name](urn:li:person:…)`` mentions as their name, hashtag
templates and bare ``#word`` hashtags as ``#word``. Any other unescaped reserved character makes LinkedIn drop the
rest of the text while still answering 201 (observed, not documented); the sandbox reproduces that, so a client that
forgets to escape sees its post truncated in ``/_sandbox/posts`` (field ``rendered``).
"""

from __future__ import annotations

import re

_RESERVED = r"\\|{}@\[\]()<>#*_~"
_TOKEN = re.compile(
    rf"(?P<plain>[^{_RESERVED}]+)"
    rf"|\\(?P<escaped>[{_RESERVED}])"
    r"|@\[(?P<mention>(?:\\.|[^\]\\])*)\]\(urn:li:(?:person|organization):[^)]+\)"
    r"|\{hashtag\|\\#\|(?P<template>[^}]*)\}"
    r"|#(?P<hashtag>\w+)"
)
_ESCAPE = re.compile(rf"\\([{_RESERVED}])")


def render(commentary: str) -> str:
    """The text a reader sees, truncated at the first reserved character that is neither escaped nor an element."""
    shown: list[str] = []
    position = 0
    while position < len(commentary):
        token = _TOKEN.match(commentary, position)
        if token is None:
            break
        shown.append(_shown(token))
        position = token.end()
    return "".join(shown)


def _shown(token: re.Match[str]) -> str:
    kind = token.lastgroup
    if kind == "mention":
        return _ESCAPE.sub(r"\1", token.group("mention"))
    if kind in ("template", "hashtag"):
        return f"#{token.group(kind)}"
    return token.group(kind or "plain")
