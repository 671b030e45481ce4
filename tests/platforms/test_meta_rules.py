"""Meta content rules: the 63,206-character message limit, no over-length policy, link passthrough."""

from __future__ import annotations

import uuid

import pytest

from herald.contracts.media import MediaKind, MediaReference, Surface
from herald.platforms.base import ContentRuleViolation, Draft, OverLengthPolicy
from herald.platforms.meta.rules import CAPTION_LIMIT, MESSAGE_LIMIT, MetaContentRules, normalise_message

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


def _instagram_draft(text: str, link: str | None = None) -> Draft:
    image = MediaReference(
        media_id=uuid.uuid4(),
        storage_key="teams/t/media/m",
        kind=MediaKind.IMAGE,
        content_type="image/jpeg",
        size_bytes=1000,
        sha256="0" * 64,
        width=1080,
        height=1080,
    )
    return Draft(text=text, link=link, media=(image,), surface=Surface.INSTAGRAM)


def test_an_instagram_caption_at_2200_passes_and_one_over_is_refused_with_the_link_counted() -> None:
    assert rules.prepare(_instagram_draft("a" * CAPTION_LIMIT)).text == "a" * CAPTION_LIMIT
    link = "https://example.com/x"
    with pytest.raises(ContentRuleViolation) as caught:
        rules.prepare(_instagram_draft("a" * (CAPTION_LIMIT - len(link) - 1), link=link))
    assert (caught.value.rule, caught.value.limit, caught.value.actual) == (
        "instagram.caption_length",
        CAPTION_LIMIT,
        CAPTION_LIMIT + 1,
    )
    # The 63,206 Page limit still applies to Pages only.
    page = Draft(text="a" * 3000)
    assert rules.prepare(page).text == page.text
