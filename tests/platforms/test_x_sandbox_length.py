"""The X sandbox's emoji pass: the guarded pattern it gives twitter-text-parser finds exactly the library's matches."""

from __future__ import annotations

import random
import re

from twitter_text import extract_emojis
from twitter_text.regexp import emoji as emoji_data

from herald.sandboxes.x import length

LIBRARY = emoji_data.emoji
GUARDED = length.guarded_emoji_pattern()


def matches(pattern: re.Pattern[str], text: str) -> list[tuple[int, int, str]]:
    return [(found.start(), found.end(), found.group()) for found in pattern.finditer(text)]


def texts() -> list[str]:
    """Every emoji of the library's list alone, between letters, after a digit or a ``#``, before a text presentation
    selector and in runs; then random mixes of emoji, keycap parts, digits, letters and CJK."""
    emoji = [found.emoji for found in emoji_data.emoji_list]
    made: list[str] = []
    for one in emoji:
        made += [one, f"a{one}b", f"1{one}", f"#{one}", one + "\ufe0e"]
    made += ["".join(emoji[i : i + 7]) for i in range(0, len(emoji), 7)]
    atoms = [*random.Random(7).sample(emoji, 300), *"#*0123456789 ab日本語\u200d\ufe0f\u20e3©®™‼"]
    shuffle = random.Random(20261206)
    made += ["".join(shuffle.choice(atoms) for _ in range(shuffle.randint(1, 40))) for _ in range(5000)]
    return made


def test_the_guarded_pattern_finds_what_the_librarys_finds() -> None:
    corpus = texts()
    differ = [text for text in corpus if matches(GUARDED, text) != matches(LIBRARY, text)]
    assert not differ, f"{len(differ)} of {len(corpus)} texts differ, e.g. {differ[:3]!r}"
    assert sum(bool(matches(LIBRARY, text)) for text in corpus) > len(corpus) // 2  # the corpus is mostly emoji


def test_keycaps_are_found_and_bare_digits_are_not() -> None:
    assert matches(GUARDED, "call 1\ufe0f\u20e3 or #\u20e3 at 10") == [(5, 8, "1\ufe0f\u20e3"), (12, 14, "#\u20e3")]


def test_the_sandbox_counts_with_the_guarded_pattern() -> None:
    assert extract_emojis.emoji.pattern == GUARDED.pattern
    assert length.judge("ok 👍🏽 1\ufe0f\u20e3 日本").weighted_length == len("ok ") + 2 + 1 + 2 + 1 + 2 + 2
