"""Matching a prepared post against what X stored, for read-back (reconciliation).

X rewrites the text it stores: every URL becomes ``https://t.co/<10 chars>``
(https://docs.x.com/fundamentals/counting-characters) and, per developers' reports rather than the documentation,
``&``, ``<`` and ``>`` come back HTML-escaped. Both sides are therefore compared with every URL
replaced by one placeholder, NFC-normalised, with whitespace runs collapsed; the returned text is tried both as
given and with the three entities unescaped.
"""

from __future__ import annotations

import re
import unicodedata

from herald.platforms.x.urls import extract_urls

URL_PLACEHOLDER = "\x00url\x00"
_SPACES = re.compile(r"\s+")
_ENTITIES = (("&lt;", "<"), ("&gt;", ">"), ("&amp;", "&"))


def normalise(text: str) -> str:
    """The comparable form of a post text."""
    text = unicodedata.normalize("NFC", text)
    pieces: list[str] = []
    position = 0
    for url in extract_urls(text):
        pieces += [text[position : url.start], URL_PLACEHOLDER]
        position = url.end
    pieces.append(text[position:])
    return _SPACES.sub(" ", "".join(pieces)).strip()


def unescape_entities(text: str) -> str:
    """Undo X's escaping of ``&``, ``<`` and ``>`` (``&amp;`` last, so ``&amp;lt;`` stays ``&lt;``)."""
    for entity, char in _ENTITIES:
        text = text.replace(entity, char)
    return text


def same_post(prepared_text: str, stored_text: str) -> bool:
    """True when ``stored_text`` (as X returns it) is the post Herald prepared as ``prepared_text``."""
    wanted = normalise(prepared_text)
    return wanted in (normalise(stored_text), normalise(unescape_entities(stored_text)))
