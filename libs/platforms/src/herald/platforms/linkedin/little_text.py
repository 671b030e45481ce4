"""LinkedIn "little text format", the markup of ``/rest/posts`` ``commentary`` (docs/platforms.md, "LinkedIn: little
text format").

Reserved characters ``\\ | { } @ [ ] ( ) < > # * _ ~`` must be escaped with a backslash to be shown as plain text.
An unescaped one may make LinkedIn silently truncate the published post while still answering 201 (observed).
Herald sends plain text only (no mention or hashtag elements), so it escapes every reserved character, including
``#`` and those inside URLs: an escaped character is shown as itself, so nothing is lost but hashtag links.
"""

from __future__ import annotations

import re
import unicodedata

RESERVED = frozenset("\\|{}@[]()<>#*_~")

# Elements LinkedIn may hand back in a read commentary: {hashtag|\#|word}, @[Name](urn:li:...), and escapes.
_ELEMENT = re.compile(
    r"\{hashtag\|\\#\|(?P<tag>[^}]*)\}"
    r"|@\[(?P<name>(?:\\.|[^\]\\])*)\]\(urn:li:[a-zA-Z]+:[^)]*\)"
    r"|\\(?P<escaped>.)",
    re.DOTALL,
)
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)
_SPACES = re.compile(r"\s+")


def escape(text: str) -> str:
    """Escape every reserved character (the backslash itself included) so LinkedIn shows ``text`` verbatim."""
    return "".join(f"\\{char}" if char in RESERVED else char for char in text)


def unescape(commentary: str) -> str:
    """Undo :func:`escape`: ``unescape(escape(text)) == text`` for every text."""
    return _ESCAPE.sub(lambda match: match.group(1), commentary)


def to_plain(commentary: str) -> str:
    """What a reader sees: hashtag templates become ``#tag``, mentions their name, escapes their character."""
    return _ELEMENT.sub(_plain_element, commentary)


def _plain_element(match: re.Match[str]) -> str:
    if match.group("tag") is not None:
        return f"#{match.group('tag')}"
    if match.group("name") is not None:
        return unescape(match.group("name"))
    return match.group("escaped")


def comparable(text: str) -> str:
    """Normal form for read-back matching: NFC, and whitespace runs (LinkedIn may rewrite line ends) as one space."""
    return _SPACES.sub(" ", unicodedata.normalize("NFC", text)).strip()


def commentary_length(commentary: str) -> int:
    """Length as LinkedIn's (Java) backend measures strings: UTF-16 code units.

    LinkedIn gives the 3,000 limit but not its unit (docs/platforms.md, "LinkedIn: posting"); counting UTF-16 units
    is never lower than counting
    code points, so a post accepted here is not refused by LinkedIn for length (an emoji counts 2).
    """
    return len(commentary.encode("utf-16-le")) // 2
