"""Meta content rules: the 63,206-character message limit, no over-length policy, link passthrough."""

from __future__ import annotations

import pytest

from herald.platforms.base import ContentRuleViolation, Draft, OverLengthPolicy
from herald.platforms.meta.rules import MESSAGE_LIMIT, MetaContentRules, normalise_message

rules = MetaContentRules()


def test_the_limit_is_63206() -> None:
    assert MESSAGE_LIMIT == 63_206


def test_a_message_at_the_limit_is_sent_unchanged() -> None:
    text = "é" * 63_206
    assert rules.prepare(Draft(text=text)).parts == (text,)


def test_one_over_the_limit_is_refused_naming_rule_and_excess() -> None:
    with pytest.raises(ContentRuleViolation) as caught:
        rules.prepare(Draft(text="a" * 63_207))
    assert caught.value.rule == "meta.message_length"
    assert (caught.value.limit, caught.value.actual) == (63_206, 63_207)
    assert "1 over the 63206 limit" in caught.value.message


@pytest.mark.parametrize("policy", list(OverLengthPolicy))
def test_over_length_policy_does_not_apply_to_meta(policy: OverLengthPolicy) -> None:
    with pytest.raises(ContentRuleViolation) as caught:
        rules.prepare(Draft(text="a" * 70_000, over_length=policy))
    assert "6794 over the 63206 limit" in caught.value.message


def test_link_passes_through_and_message_is_kept() -> None:
    prepared = rules.prepare(Draft(text="Read this", link="https://example.com/a?b=c"))
    assert prepared.parts == ("Read this",)
    assert prepared.text == "Read this"
    assert prepared.link == "https://example.com/a?b=c"


def test_a_text_post_has_no_link() -> None:
    assert rules.prepare(Draft(text="Hello")).link is None


@pytest.mark.parametrize("text", ["", "   \n\t"])
def test_an_empty_message_is_refused(text: str) -> None:
    with pytest.raises(ContentRuleViolation) as caught:
        rules.prepare(Draft(text=text, link="https://example.com"))
    assert caught.value.rule == "meta.message_required"


def test_normalisation_collapses_whitespace_and_composes_unicode() -> None:
    assert normalise_message("  Caf\u0065\u0301\r\n  ok\t ") == "Caf\u00e9 ok"
