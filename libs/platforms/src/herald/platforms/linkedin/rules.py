"""LinkedIn content rules: little-text escaping and the 3,000-character commentary limit."""

from __future__ import annotations

from herald.platforms.base import ContentRules, ContentRuleViolation, Draft, PreparedPost
from herald.platforms.linkedin.little_text import commentary_length, escape
from herald.platforms.linkedin.media_rules import check_media

COMMENTARY_LIMIT = 3000


class LinkedInRules(ContentRules):
    """Turns a draft into the exact ``commentary`` to send. Over-length text is always refused.

    The over-length policy of :class:`Draft` (truncate, thread) is an X feature; LinkedIn has no threads and
    truncating a post silently is not ours to decide, so anything over the limit raises.
    """

    def prepare(self, draft: Draft) -> PreparedPost:
        check_media(draft.media, draft.surface)
        commentary = escape(draft.text)
        _check_length(commentary)
        return PreparedPost(parts=(commentary,), link=draft.link, media=draft.media)


def _check_length(commentary: str) -> None:
    # The limit is counted AFTER escaping. How escapes count is not documented (docs/platforms.md, "LinkedIn: posting");
    # the limit is a length check on the ``commentary`` field LinkedIn receives, and the escaped text is what we
    # send, so counting it is the reading that can never let through a post LinkedIn then refuses with a 422.
    # The price: a text full of reserved characters is refused somewhat below 3,000 visible characters.
    actual = commentary_length(commentary)
    if actual > COMMENTARY_LIMIT:
        excess = actual - COMMENTARY_LIMIT
        raise ContentRuleViolation(
            "linkedin.commentary_length",
            f"linkedin.commentary_length: {excess} over the {COMMENTARY_LIMIT} limit "
            f"({actual} characters as sent, reserved characters escaped)",
            limit=COMMENTARY_LIMIT,
            actual=actual,
        )
