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

import copy
import warnings
from dataclasses import dataclass
from typing import Any

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # twitter-text-parser imports the deprecated pkg_resources for its emoji data
    import twitter_text
    from twitter_text.config import config
    from twitter_text.has_invalid_characters import has_invalid_characters

V3_OPTIONS: dict[str, Any] = config["version3"]


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
    options = copy.deepcopy(V3_OPTIONS)
    options["max_weighted_tweet_length"] = max_weighted_length
    parsed = twitter_text.parse_tweet(text, options)
    return Judged(weighted_length=int(parsed.weightedLength), has_invalid_characters=bool(has_invalid_characters(text)))


def find_urls(text: str) -> list[FoundUrl]:
    """Every URL X would link in ``text`` (with or without protocol), in order."""
    return [
        FoundUrl(start=int(found["indices"][0]), end=int(found["indices"][1]), url=str(found["url"]))
        for found in twitter_text.extract_urls_with_indices(text)
    ]
