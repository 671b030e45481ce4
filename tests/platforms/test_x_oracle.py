"""Herald's X count against the official twitter-text library (npm 3.1.0, run by Node): the oracle.

Every input family of :mod:`tests.platforms.x_oracle_corpus` (every emoji-test.txt sequence, twitter-text's own
conformance texts, every TLD, internationalised and mixed-direction domains, seeded random mixes of words, URLs, emoji
and CJK, and seeded "soup" of URL fragments glued without spaces) goes to ONE node
process; Herald's weighted length, validity and URL extraction must agree with it on every text. A text on which
they may still disagree is listed in ``KNOWN_DISAGREEMENTS`` with the reason, and even then Herald never counts
lower than X (a lower count accepts posts X refuses).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import pytest

from herald.platforms.x.counting import count
from herald.platforms.x.emoji import EMOJI_PATTERN
from herald.platforms.x.tlds import COUNTRY_TLDS, GENERIC_TLDS
from herald.platforms.x.urls import extract_urls
from herald.sandboxes.x import length as sandbox_length
from tests.platforms import x_oracle_corpus as corpus
from tests.support import twitter_text_oracle as oracle

# text -> why Herald and twitter-text 3.1.0 may disagree on it. Empty: they agree on every input.
KNOWN_DISAGREEMENTS: dict[str, str] = {}


@dataclass(frozen=True)
class Disagreement:
    text: str
    herald: tuple[int, bool, tuple[tuple[int, int, str], ...]]
    twitter_text: tuple[int, bool, tuple[tuple[int, int, str], ...]]

    @property
    def counts_lower(self) -> bool:
        return self.herald[0] < self.twitter_text[0]


@pytest.fixture(scope="module")
def judged() -> dict[str, list[tuple[str, oracle.Judgement]]]:
    families = corpus.corpus()
    texts = [text for family in families.values() for text in family]
    answers = iter(oracle.judge(texts))
    return {name: [(text, next(answers)) for text in family] for name, family in families.items()}


@pytest.fixture(scope="module")
def found(judged: dict[str, list[tuple[str, oracle.Judgement]]]) -> dict[str, list[Disagreement]]:
    return {name: disagreements(texts) for name, texts in judged.items()}


def herald_view(text: str) -> tuple[int, bool, tuple[tuple[int, int, str], ...]]:
    counted = count(text)
    return counted.weighted_length, counted.valid, tuple((u.start, u.end, u.url) for u in extract_urls(text))


def disagreements(judged_texts: list[tuple[str, oracle.Judgement]]) -> list[Disagreement]:
    found = []
    for text, judgement in judged_texts:
        official = (judgement.weighted_length, judgement.valid, judgement.urls)
        mine = herald_view(text)
        if mine != official:
            found.append(Disagreement(text, mine, official))
    return found


@pytest.mark.parametrize("family", ["emoji", "conformance", "tlds", "idn", "random", "soup"])
def test_herald_counts_like_twitter_text(
    judged: dict[str, list[tuple[str, oracle.Judgement]]], found: dict[str, list[Disagreement]], family: str
) -> None:
    unexplained = [d for d in found[family] if d.text not in KNOWN_DISAGREEMENTS]
    assert not unexplained, f"{len(unexplained)} of {len(judged[family])} texts disagree, e.g. {unexplained[:3]}"
    assert not [d for d in found[family] if d.counts_lower], "Herald counts lower than X"


def test_every_family_is_large_enough(judged: dict[str, list[tuple[str, oracle.Judgement]]]) -> None:
    sizes = {name: len(texts) for name, texts in judged.items()}
    assert sizes["emoji"] >= 3 * 5000
    assert sizes["conformance"] >= 300
    assert sizes["tlds"] >= 5 * 1500
    assert sizes["idn"] >= 2000
    assert sizes["random"] == corpus.RANDOM_TEXTS
    assert sizes["soup"] == corpus.SOUP_TEXTS


def test_emoji_data_has_every_qualification_status() -> None:
    sequences = set(corpus.emoji_sequences())
    assert {"\u263a", "\u263a\ufe0f"} <= sequences  # unqualified and fully-qualified smiling face
    assert {"\U0001f636\u200d\U0001f32b", "\U0001f636\u200d\U0001f32b\ufe0f"} <= sequences  # minimally / fully
    assert "\U0001f3fb" in sequences  # a component
    assert "\U0001fae9" in sequences  # Emoji 16.0: face with bags under eyes


def test_known_disagreements_still_disagree(found: dict[str, list[Disagreement]]) -> None:
    every = {d.text for family in found.values() for d in family}
    assert set(KNOWN_DISAGREEMENTS) <= every, "a listed disagreement is gone: remove it from the list"


# -- the X sandbox's own counter ---------------------------------------------------------------------------------------


def sandbox_view(text: str) -> tuple[int, bool, tuple[tuple[int, int, str], ...]]:
    judged = sandbox_length.judge(text)
    valid = 0 < judged.weighted_length <= 280 and not judged.has_invalid_characters
    return judged.weighted_length, valid, tuple((u.start, u.end, u.url) for u in sandbox_length.find_urls(text))


def test_sandbox_counter_equals_twitter_text_on_its_conformance_texts(
    judged: dict[str, list[tuple[str, oracle.Judgement]]],
) -> None:
    # The sandbox counts with twitter-text-parser, not Herald's code; on twitter-text's own conformance suite (and
    # every TLD) it must answer exactly as the official library does.
    for family in ("conformance", "tlds"):
        differing = [
            text
            for text, judgement in judged[family]
            if sandbox_view(text) != (judgement.weighted_length, judgement.valid, judgement.urls)
        ]
        assert not differing, f"{family}: {len(differing)} texts, e.g. {differing[:3]}"


# -- Herald's data is twitter-text's -------------------------------------------------------------------------------

_HIGH = r"\\u(d[89ab][0-9a-f]{2})"
_LOW = r"\\u(d[c-f][0-9a-f]{2})"


def _code_point(high: str, low: str) -> int:
    return 0x10000 + ((int(high, 16) - 0xD800) << 10) + (int(low, 16) - 0xDC00)


def _escape(code: int) -> str:
    return f"\\U{code:08X}" if code > 0xFFFF else f"\\u{code:04x}"


def code_point_pattern(utf16_source: str) -> str:
    """A JavaScript regex source written with surrogate pairs, rewritten with code points for Python."""

    def pair_class(match: re.Match[str]) -> str:
        high, items = match.group(1), match.group(2)
        assert re.fullmatch(f"(?:{_LOW}(?:-{_LOW})?)+", items), match.group(0)
        ranges = re.findall(f"{_LOW}(?:-{_LOW})?", items)
        return "[" + "".join(_escape(_code_point(high, a)) + (f"-{_escape(_code_point(high, b))}" if b else "")
                             for a, b in ranges) + "]"  # fmt: skip

    source = re.sub(_HIGH + r"\[([^\]]*)\]", pair_class, utf16_source)
    source = re.sub(_HIGH + _LOW, lambda m: _escape(_code_point(m.group(1), m.group(2))), source)
    assert not re.search(r"\\ud[89a-f]", source), "a surrogate left that is not part of a pair"
    return "".join(char if ord(char) < 128 else _escape(ord(char)) for char in source)


def test_emoji_pattern_is_twemoji_parsers_regex() -> None:
    source = oracle.installed_file("twemoji-parser/dist/lib/regex.js").read_text(encoding="utf-8")
    body = source[source.index("exports.default = /") + len("exports.default = /") : source.rindex("/g;")]
    assert code_point_pattern(body) == EMOJI_PATTERN


def test_tlds_are_twitter_texts() -> None:
    assert list(GENERIC_TLDS + COUNTRY_TLDS) == corpus.twitter_text_tlds()


# -- examples of what was fixed --------------------------------------------------------------------------------------


def test_emoji_newer_than_twemoji_11_count_per_code_point() -> None:
    # X's counter knows Emoji 11.0 sequences: a newer ZWJ sequence is 2 per emoji and 1 per joiner.
    astronaut = "\U0001f9d1\U0001f3fd\u200d\U0001f680"
    assert count(astronaut).weighted_length == 5
    assert oracle.judge([astronaut])[0].weighted_length == 5


def test_symbols_are_emoji_only_with_emoji_presentation() -> None:
    texts = ["\u00ae", "\u00ae\ufe0f", "\u2764", "\u2764\ufe0e", "\ufe0f"]
    assert [count(t).weighted_length for t in texts] == [j.weighted_length for j in oracle.judge(texts)]
    assert [count(t).weighted_length for t in texts] == [1, 2, 2, 4, 2]


def test_internationalised_domains_are_checked_like_twitter_text() -> None:
    # twitter-text's own idna: no nameprep, so "İstanbul" (refused by IDNA 2003) is a valid label; a domain that
    # starts with "xn--" must hold an ASCII domain.
    texts = ["http://İstanbul.com/x", "http://xn--bcher-kva.例え.jp", "a-b.ไทย.com/путь"]
    assert [herald_view(t) for t in texts] == [(j.weighted_length, j.valid, j.urls) for j in oracle.judge(texts)]
    assert unicodedata.normalize("NFC", texts[0]) == texts[0]
