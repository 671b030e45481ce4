"""The X sandbox's own judgement of a post's text: weighted length, invalid characters and URLs.

It deliberately does not use Herald's counter (``herald.platforms``): a sandbox that counted with the code it tests
would share that code's blind spots. It uses ``twitter-text-parser``, an independent Python port of twitter-text
(the library X publishes for counting: https://docs.x.com/fundamentals/counting-characters), written by
other people from the same specification. tests/platforms/test_x_oracle.py proves it equal to the official library
(npm twitter-text 3.1.0) on twitter-text's conformance texts.

Where it is known to differ from the official library: its emoji come from Unicode's emoji-test.txt instead of
twemoji 11, so it counts many emoji sequences newer than Emoji 11.0 as one emoji where X counts each part (lower than
X), and ``©``/``®``/``™`` without a variation selector as emoji (2 instead of 1); it also counts CR LF as one
character. Outside the conformance texts the oracle's other inputs show it disagreeing on about one emoji text in five
and one random mix in two, mostly counting lower. So the sandbox is a second opinion that does not share Herald's
code; the judge of Herald's count is the official library itself (tests/platforms/test_x_oracle.py).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # twitter-text-parser imports the deprecated pkg_resources for its emoji data
    import twitter_text
    from twitter_text import extract_emojis
    from twitter_text.config import config
    from twitter_text.has_invalid_characters import has_invalid_characters
    from twitter_text.regexp import emoji as emoji_data

V3_OPTIONS: dict[str, Any] = config["version3"]


def guarded_emoji_pattern() -> re.Pattern[str]:
    """twitter-text-parser's emoji pattern behind a lookahead of the characters an emoji can begin with.

    The library's pattern is one alternation of about 3,600 code point sequences, then a class of single code points.
    Python's ``re`` tries every alternative at every position of a text, so its emoji pass was most of the sandbox's
    work for a post. Each alternative begins with the first code point of a sequence of the library's emoji list, or
    is one of its single code points, so a lookahead that every such beginning passes rejects the other positions at
    once and leaves the matches unchanged (tests/platforms/test_x_sandbox_length.py compares both patterns).

    The lookahead is shaped for ``re``'s speed: the beginnings in the Basic Multilingual Plane as one class (a
    bitmap), the astral ones as a single range around them (a list of 1,000 would be searched one by one), and the
    ASCII ones (``#``, ``*`` and digits, which begin only keycaps) with their second code point, so that the digits of
    a text do not each run the whole alternation.
    """
    sequences = [[int(code, 16) for code in found.codepoint.split()] for found in emoji_data.emoji_list]
    singles = {code for low, high in emoji_data.single_codepoint_emoji_ranges for code in range(low, high + 1)}
    begins = singles | {sequence[0] for sequence in sequences}
    keycaps = {sequence[0] for sequence in sequences if sequence[0] < 0x80} - singles
    seconds = {sequence[1] for sequence in sequences if sequence[0] in keycaps}
    astral = [code for code in begins if code > 0xFFFF]
    guard = (
        f"[{_class(code for code in begins - keycaps if code <= 0xFFFF)}]"
        f"|[{_class(keycaps)}][{_class(seconds)}]"
        f"|[{_class([min(astral)])}-{_class([max(astral)])}]"
    )
    return re.compile(f"(?={guard})(?:{emoji_data.emoji.pattern})")


def _class(codes: Iterable[int]) -> str:
    return "".join(re.escape(chr(code)) for code in sorted(codes))


# parse_tweet finds emoji through extract_emojis' module-level pattern: give it the guarded one (same matches).
extract_emojis.emoji = guarded_emoji_pattern()


@dataclass(frozen=True)
class Judged:
    """What the sandbox decides about a text."""

    weighted_length: int
    has_invalid_characters: bool


@dataclass(frozen=True)
class FoundUrl:
    """A URL in a text, at ``text[start:end]``."""

    start: int
    end: int
    url: str


def judge(text: str, max_weighted_length: int = 280) -> Judged:
    """Count ``text`` with twitter-text's v3 weights (URLs 23, emoji 2, CJK 2) against ``max_weighted_length``."""
    parsed = twitter_text.parse_tweet(text, _options(max_weighted_length))
    return Judged(weighted_length=int(parsed.weightedLength), has_invalid_characters=bool(has_invalid_characters(text)))


@cache
def _options(max_weighted_length: int) -> dict[str, Any]:
    """The v3 options with this limit (parse_tweet only reads them, so one dict per limit serves every call)."""
    return {**V3_OPTIONS, "max_weighted_tweet_length": max_weighted_length}


def find_urls(text: str) -> list[FoundUrl]:
    """Every URL X would link in ``text`` (with or without protocol), in order."""
    return [
        FoundUrl(start=int(found["indices"][0]), end=int(found["indices"][1]), url=str(found["url"]))
        for found in twitter_text.extract_urls_with_indices(text)
    ]
