"""LinkedIn content rules: little-text escaping, its inverse for read-back, and the 3,000-character limit."""

from __future__ import annotations

import pytest

from herald.platforms.base import ContentRuleViolation, Draft, OverLengthPolicy
from herald.platforms.linkedin import COMMENTARY_LIMIT, LinkedInRules
from herald.platforms.linkedin.little_text import (
    RESERVED,
    commentary_length,
    comparable,
    escape,
    to_plain,
    unescape,
)
from herald.sandboxes.linkedin.little_text import render

RESERVED_CHARACTERS = "\\|{}@[]()<>#*_~"
rules = LinkedInRules()


def test_the_reserved_set_is_the_documented_one() -> None:
    assert set(RESERVED_CHARACTERS) == RESERVED


@pytest.mark.parametrize("char", list(RESERVED_CHARACTERS))
def test_every_reserved_character_is_escaped_with_a_backslash(char: str) -> None:
    prepared = rules.prepare(Draft(text=f"a{char}b"))
    assert prepared.text == f"a\\{char}b"


@pytest.mark.parametrize("char", list(RESERVED_CHARACTERS))
def test_an_escaped_reserved_character_is_shown_verbatim_by_linkedin(char: str) -> None:
    text = f"before {char} after"
    assert render(escape(text)) == text


def test_unescaped_text_would_be_truncated_by_linkedin() -> None:
    # Why escaping matters: LinkedIn drops everything from the first stray reserved character (docs/platforms.md,
    # "LinkedIn: little text format").
    assert render("Step 1) do this") == "Step 1"


def test_ordinary_text_is_sent_unchanged() -> None:
    text = "Plain text, with punctuation: !?.,;'\" and unicode é 日本 🎉 and a URL https://example.com/a-b"
    assert rules.prepare(Draft(text=text)).text == text


def test_backslashes_are_escaped_first_so_existing_escapes_survive() -> None:
    text = r"C:\path\(x) and \# literally"
    escaped = escape(text)
    assert escaped == r"C:\\path\\\(x\) and \\\# literally"
    assert unescape(escaped) == text
    assert render(escaped) == text


@pytest.mark.parametrize(
    "text",
    [
        "",
        "no reserved characters",
        RESERVED_CHARACTERS,
        RESERVED_CHARACTERS * 3,
        "\\\\\\",
        "@[Not a mention](urn:li:person:1) {hashtag|\\#|nope} #tag",
        "emoji 🎉 *bold* _it_ ~strike~ <tag>",
    ],
)
def test_unescape_inverts_escape(text: str) -> None:
    assert unescape(escape(text)) == text
    assert to_plain(escape(text)) == text


def test_plain_text_of_what_linkedin_hands_back() -> None:
    commentary = r"Hi @[Ada Lovelace](urn:li:person:abc) see {hashtag|\#|python} \(really\)"
    assert to_plain(commentary) == "Hi Ada Lovelace see #python (really)"


def test_comparable_ignores_whitespace_rewrites_and_normalisation() -> None:
    assert comparable("a\r\nb  c ") == comparable("a\nb c")
    assert comparable("e\u0301") == comparable("\u00e9")
    assert comparable("a b") != comparable("a c")


def test_the_link_is_kept_out_of_the_commentary() -> None:
    prepared = rules.prepare(Draft(text="Read this", link="https://example.com/a_(b)"))
    assert prepared.text == "Read this"
    assert prepared.link == "https://example.com/a_(b)"


def test_exactly_the_limit_is_accepted() -> None:
    prepared = rules.prepare(Draft(text="a" * COMMENTARY_LIMIT))
    assert len(prepared.text) == 3000


def test_one_over_the_limit_is_refused_naming_the_rule_and_the_excess() -> None:
    with pytest.raises(ContentRuleViolation) as caught:
        rules.prepare(Draft(text="a" * 3001))
    violation = caught.value
    assert violation.rule == "linkedin.commentary_length"
    assert (violation.limit, violation.actual) == (3000, 3001)
    assert "1 over the 3000 limit" in violation.message


def test_the_limit_counts_the_text_as_sent_after_escaping() -> None:
    rules.prepare(Draft(text="a" * 2999 + "b"))
    with pytest.raises(ContentRuleViolation) as caught:
        rules.prepare(Draft(text="a" * 2999 + "#"))  # 3000 visible, 3001 sent
    assert caught.value.actual == 3001
    assert "1 over the 3000 limit" in caught.value.message


def test_astral_characters_count_as_two_utf16_units() -> None:
    assert commentary_length("🎉") == 2
    rules.prepare(Draft(text="🎉" * 1500))
    with pytest.raises(ContentRuleViolation) as caught:
        rules.prepare(Draft(text="🎉" * 1501))
    assert caught.value.actual == 3002
    assert "2 over the 3000 limit" in caught.value.message


@pytest.mark.parametrize("policy", list(OverLengthPolicy))
def test_over_length_policies_do_not_apply_to_linkedin(policy: OverLengthPolicy) -> None:
    with pytest.raises(ContentRuleViolation):
        rules.prepare(Draft(text="a" * 3010, over_length=policy))
