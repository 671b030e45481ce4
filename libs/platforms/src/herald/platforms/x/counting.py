"""X's weighted post length: the twitter-text v3 rules (``config/v3.json``, ``parseTweet``).

X documents the rules at https://docs.x.com/fundamentals/counting-characters and points to its twitter-text library
(https://github.com/twitter/twitter-text) as the authority; this module agrees with that library (npm 3.1.0) on every
input of tests/platforms/test_x_oracle.py.

* The text is NFC-normalised first and counted as normalised.
* Every URL counts ``transformedURLLength`` (23), whatever its length (see :mod:`herald.platforms.x.urls`).
* Every emoji twitter-text recognises counts ``defaultWeight`` (2) (see :mod:`herald.platforms.x.emoji`).
* Every other code point weighs 1 inside the v3 ranges (Latin and most Western scripts, some punctuation) and 2
  elsewhere (CJK, most other scripts, astral characters).
* A post is valid when ``0 < weighted length <= 280`` and it has none of U+FFFE, U+FEFF, U+FFFF.

Unlike the ``twitter-text-parser`` Python port, CR LF is counted as two characters, as the official JavaScript
implementation does.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from herald.platforms.x.emoji import emoji_spans
from herald.platforms.x.urls import UrlSpan, extract_urls

INVALID_CHARACTERS = frozenset("\ufffe\ufeff\uffff")


@dataclass(frozen=True)
class WeightConfig:
    """The twitter-text configuration (v3 by default). Weights are scaled by ``scale``."""

    max_weighted_length: int = 280
    scale: int = 100
    default_weight: int = 200
    transformed_url_length: int = 23
    ranges: tuple[tuple[int, int, int], ...] = (
        (0x0000, 0x10FF, 100),
        (0x2000, 0x200D, 100),
        (0x2010, 0x201F, 100),
        (0x2032, 0x2037, 100),
    )

    def char_weight(self, char: str) -> int:
        code = ord(char)
        for start, end, weight in self.ranges:
            if start <= code <= end:
                return weight
        return self.default_weight


V3 = WeightConfig()


@dataclass(frozen=True)
class TextCount:
    """The result of counting one text."""

    weighted_length: int
    has_invalid_characters: bool
    max_weighted_length: int

    @property
    def valid(self) -> bool:
        return 0 < self.weighted_length <= self.max_weighted_length and not self.has_invalid_characters

    @property
    def excess(self) -> int:
        return max(0, self.weighted_length - self.max_weighted_length)


def count(text: str, config: WeightConfig = V3) -> TextCount:
    """Count ``text`` the way X does."""
    normalized = unicodedata.normalize("NFC", text)
    atoms = {u.start: _url_atom(normalized, u, config) for u in extract_urls(normalized)}
    for start, end in emoji_spans(normalized):
        atoms.setdefault(start, (end, config.default_weight))
    total = 0
    index = 0
    while index < len(normalized):
        atom = atoms.get(index)
        if atom is not None:
            index, weight = atom
        else:
            weight = config.char_weight(normalized[index])
            index += 1
        total += weight
    return TextCount(
        weighted_length=total // config.scale,
        has_invalid_characters=not INVALID_CHARACTERS.isdisjoint(normalized),
        max_weighted_length=config.max_weighted_length,
    )


def _url_atom(text: str, url: UrlSpan, config: WeightConfig) -> tuple[int, int]:
    """Where counting resumes after ``url`` and what the URL weighs.

    twitter-text skips the reported URL's length in UTF-16 units. That is the span's end, except for the one quirk
    where twitter-text reports a URL shorter than its span (see :class:`~herald.platforms.x.urls.UrlSpan`): the rest
    of the span is then counted character by character, and if the skip ends inside an astral character, its second
    UTF-16 half is counted on its own (default weight).
    """
    weight = config.transformed_url_length * config.scale
    if text[url.start : url.end] == url.url:
        return url.end, weight
    units = sum(2 if ord(char) > 0xFFFF else 1 for char in url.url)
    index = url.start
    while units > 0 and index < len(text):
        units -= 2 if ord(text[index]) > 0xFFFF else 1
        index += 1
    return index, weight + (config.default_weight if units < 0 else 0)


def weighted_length(text: str, config: WeightConfig = V3) -> int:
    """Shortcut for ``count(text).weighted_length``."""
    return count(text, config).weighted_length


def atomic_boundaries(text: str) -> list[int]:
    """Indexes where ``text`` may be cut without splitting a URL, an emoji sequence or a combining mark."""
    blocked: set[int] = set()
    for url in extract_urls(text):
        blocked.update(range(url.start + 1, url.end))
    for start, end in emoji_spans(text):
        blocked.update(range(start + 1, end))
    return [i for i in range(1, len(text) + 1) if i not in blocked and not _combining_at(text, i)]


def _combining_at(text: str, index: int) -> bool:
    return index < len(text) and unicodedata.combining(text[index]) != 0
