"""X's t.co rewriting: every URL in a stored post becomes ``https://t.co/<10 characters>``."""

from __future__ import annotations

import hashlib
import string
import unicodedata
from typing import Any

from herald.sandboxes.x.length import find_urls

_ALPHABET = string.digits + string.ascii_letters
DISPLAY_URL_LENGTH = 23


def shorten(url: str) -> str:
    """A stable t.co link for ``url`` (the same URL always gets the same slug, as on X)."""
    number = int.from_bytes(hashlib.sha256(url.encode()).digest()[:8], "big")
    slug = ""
    for _ in range(10):
        number, digit = divmod(number, len(_ALPHABET))
        slug += _ALPHABET[digit]
    return f"https://t.co/{slug}"


def rewrite(text: str) -> tuple[str, list[dict[str, Any]]]:
    """The text X returns (NFC, URLs replaced by t.co links, ``& < >`` escaped) and its ``entities.urls``.

    The escaping is reported by developers rather than documented (https://docs.x.com/x-api/posts/lookup/introduction
    shows no escaped example); it is emulated so that clients match read-back text robustly. Entity indexes refer to
    the unescaped text, as on X.
    """
    text = unicodedata.normalize("NFC", text)
    pieces: list[str] = []
    entities: list[dict[str, Any]] = []
    position = 0
    length = 0
    for span in find_urls(text):
        before = text[position : span.start]
        short = shorten(span.url)
        pieces += [before, short]
        start = length + len(before)
        entities.append(
            {
                "start": start,
                "end": start + len(short),
                "url": short,
                "expanded_url": span.url if "://" in span.url else f"http://{span.url}",
                "display_url": _display(span.url),
            }
        )
        length = start + len(short)
        position = span.end
    pieces.append(text[position:])
    return _escape("".join(pieces)), entities


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _display(url: str) -> str:
    bare = url.split("://", 1)[-1]
    return bare if len(bare) <= DISPLAY_URL_LENGTH else bare[: DISPLAY_URL_LENGTH - 1] + "\u2026"
