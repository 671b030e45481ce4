"""Emoji detection by Unicode ranges, as X's length counter sees emoji (twemoji sequences).

A whole sequence counts once (weight 2): a ZWJ sequence (family, profession, rainbow flag), a base with a skin-tone
modifier or a variation selector, a keycap, a regional-indicator flag pair, or a tag sequence (subdivision flags).
The ranges are the emoji blocks rather than the exact Unicode emoji list; a non-emoji symbol in those blocks
weighs 2 either way, so the approximation only matters for sequences.
"""

from __future__ import annotations

import re

_PICTOGRAPHS = (
    "\u00a9\u00ae\u203c\u2049\u2122\u2139\u2194-\u2199\u21a9\u21aa\u231a\u231b\u2328\u23cf\u23e9-\u23f3"
    "\u23f8-\u23fa\u24c2\u25aa\u25ab\u25b6\u25c0\u25fb-\u25fe\u2600-\u27bf\u2934\u2935\u2b05-\u2b07\u2b1b\u2b1c"
    "\u2b50\u2b55\u3030\u303d\u3297\u3299"
    "\U0001f000-\U0001f0ff\U0001f100-\U0001f1e5\U0001f200-\U0001f3fa\U0001f400-\U0001faff"
)
_REGIONAL_INDICATOR = "[\U0001f1e6-\U0001f1ff]"
_SKIN_TONE = "[\U0001f3fb-\U0001f3ff]"
_VARIATION = "[\ufe0e\ufe0f]"
_TAGS = "[\U000e0020-\U000e007e]+\U000e007f"
_ELEMENT = (
    f"(?:{_REGIONAL_INDICATOR}{_REGIONAL_INDICATOR}"
    f"|[0-9#*]\ufe0f?\u20e3"
    f"|[{_PICTOGRAPHS}]{_VARIATION}?{_SKIN_TONE}?(?:{_TAGS})?"
    f"|{_SKIN_TONE}|{_REGIONAL_INDICATOR})"
)
EMOJI_SEQUENCE = re.compile(f"{_ELEMENT}(?:\u200d{_ELEMENT})*")


def emoji_spans(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of every emoji sequence in ``text``."""
    return [m.span() for m in EMOJI_SEQUENCE.finditer(text)]
