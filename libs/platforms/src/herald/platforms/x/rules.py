"""X content rules: the weighted-length limit and the over-length policies (reject, truncate, thread)."""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections.abc import Callable

from herald.platforms.base import ContentRules, ContentRuleViolation, Draft, OverLengthPolicy, PreparedPost
from herald.platforms.x.counting import V3, atomic_boundaries, count, weighted_length
from herald.platforms.x.media_rules import check_media
from herald.platforms.x.urls import extract_urls

ELLIPSIS = "\u2026"
_WORD = re.compile(r"\S+")

Span = tuple[int, int]


class XContentRules(ContentRules):
    """Turns a :class:`Draft` into the exact X post(s), or raises :class:`ContentRuleViolation`.

    The link is appended to the text (X has no link field; it counts 23 like any URL). Over-long text is handled
    per ``Draft.over_length``: ``reject`` raises, ``truncate`` cuts at a word boundary and appends "…",
    ``thread`` splits at word boundaries into parts numbered " (1/3)" (the suffix counts towards each part).
    """

    def __init__(self, max_weighted_length: int = 280) -> None:
        self.config = dataclasses.replace(V3, max_weighted_length=max_weighted_length)
        self.limit = max_weighted_length

    def prepare(self, draft: Draft) -> PreparedPost:
        check_media(draft.media, draft.surface)
        text = unicodedata.normalize("NFC", draft.text).strip()
        link = draft.link.strip() if draft.link else None
        self._check_characters(text, link)
        full = _with_link(text, link)
        length = self._length(full)
        if length <= self.limit:
            return PreparedPost(parts=(full,), link=link, media=draft.media)
        if draft.over_length is OverLengthPolicy.TRUNCATE:
            return PreparedPost(parts=(self._truncate(text, link),), link=link, media=draft.media)
        if draft.over_length is OverLengthPolicy.THREAD:
            return PreparedPost(parts=self._thread(full), link=link, media=draft.media)
        raise self._too_long(length)

    def _length(self, text: str) -> int:
        return weighted_length(text, self.config)

    def _fits(self, text: str) -> bool:
        return self._length(text) <= self.limit

    def _check_characters(self, text: str, link: str | None) -> None:
        if not text and not link:
            raise ContentRuleViolation("x.empty", "An X post needs text (the weighted length is 0).", limit=self.limit)
        if count(_with_link(text, link), self.config).has_invalid_characters:
            raise ContentRuleViolation(
                "x.invalid_characters", "X refuses text containing U+FFFE, U+FEFF or U+FFFF; remove them."
            )

    def _too_long(self, length: int) -> ContentRuleViolation:
        excess = length - self.limit
        return ContentRuleViolation(
            "x.weighted_length",
            f"X weighted length is {length}: {excess} over the {self.limit} limit"
            " (URLs count 23, emoji and CJK characters count 2).",
            limit=self.limit,
            actual=length,
        )

    # -- truncate ---------------------------------------------------------------------------------------------

    def _truncate(self, text: str, link: str | None) -> str:
        tail = f" {link}" if link else ""
        tokens = _tokens(text, lambda span: self._fits(_ellipsize(text[span[0] : span[1]]) + tail))
        if not tokens or not self._fits(_ellipsize(text[: tokens[0][1]]) + tail):
            raise self._too_long(self._length(_with_link(text, link)))
        keep = _largest(len(tokens), lambda k: self._fits(_ellipsize(text[: tokens[k - 1][1]]) + tail))
        return _ellipsize(text[: tokens[keep - 1][1]]) + tail

    # -- thread -----------------------------------------------------------------------------------------------

    def _thread(self, text: str) -> tuple[str, ...]:
        digits = 1
        while True:
            parts = self._pack(text, placeholder=f" ({'9' * digits}/{'9' * digits})")
            if len(str(len(parts))) <= digits:
                total = len(parts)
                return tuple(f"{part} ({i}/{total})" for i, part in enumerate(parts, start=1))
            digits += 1

    def _pack(self, text: str, placeholder: str) -> list[str]:
        """Greedily fill parts with whole words, each part leaving room for the numbering suffix."""
        tokens = _tokens(text, lambda span: self._fits(text[span[0] : span[1]] + placeholder))
        if any(not self._fits(text[a:b] + placeholder) for a, b in tokens):
            raise ContentRuleViolation(
                "x.weighted_length", f"X text cannot be split into parts of at most {self.limit}.", limit=self.limit
            )
        parts: list[str] = []
        first = 0
        while first < len(tokens):
            take = _longest_run(tokens, first, lambda a, b: self._fits(text[a:b] + placeholder))
            parts.append(text[tokens[first][0] : tokens[first + take - 1][1]])
            first += take
        return parts


def _with_link(text: str, link: str | None) -> str:
    if not link or link in text:
        return text
    return f"{text} {link}" if text else link


def _ellipsize(head: str) -> str:
    """Append "…"; after a URL leave a space so the URL stays exactly as written."""
    head = head.rstrip()
    urls = extract_urls(head)
    if urls and urls[-1].end == len(head):
        return f"{head} {ELLIPSIS}"
    return head + ELLIPSIS


def _tokens(text: str, fits: Callable[[Span], bool]) -> list[Span]:
    """Whitespace-separated words; a word too long to fit on its own is cut at safe (atomic) boundaries."""
    spans: list[Span] = []
    for word in _WORD.finditer(text):
        span = word.span()
        spans.extend([span] if fits(span) else _split_word(text, span, fits))
    return spans


def _split_word(text: str, span: Span, fits: Callable[[Span], bool]) -> list[Span]:
    """Cut one over-long word into pieces that fit, only where no URL or emoji sequence is split."""
    start, end = span
    cuts = [start + i for i in atomic_boundaries(text[start:end])]
    pieces: list[Span] = []
    while start < end:
        cut = _furthest_cut(cuts, start, fits)
        pieces.append((start, cut))
        start = cut
    return pieces


def _furthest_cut(cuts: list[int], start: int, fits: Callable[[Span], bool]) -> int:
    """The furthest cut after ``start`` whose piece fits (the nearest cut when none does)."""
    after = [cut for cut in cuts if cut > start]
    return after[max(1, _largest(len(after), lambda k: fits((start, after[k - 1])))) - 1]


def _longest_run(spans: list[Span], first: int, fits: Callable[[int, int], bool]) -> int:
    """How many spans from ``spans[first]`` on can be taken together (from its start to the last one's end)."""
    start = spans[first][0]
    return _largest(len(spans) - first, lambda k: fits(start, spans[first + k - 1][1]))


def _largest(n: int, ok: Callable[[int], bool]) -> int:
    """The largest ``k`` in ``1..n`` with ``ok(k)`` (0 if none), for predicates true up to some point."""
    low, high = 0, n
    while low < high:
        middle = (low + high + 1) // 2
        if ok(middle):
            low = middle
        else:
            high = middle - 1
    return low
