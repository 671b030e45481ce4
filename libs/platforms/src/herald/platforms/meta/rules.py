"""Facebook Page post content rules, applied before anything is sent."""

from __future__ import annotations

import unicodedata

from herald.platforms.base import ContentRules, ContentRuleViolation, Draft, PreparedPost
from herald.platforms.meta.media_rules import check_media

# Page post `message` limit (docs/platforms.md, "Meta: posting": Postiz `maxLength() { return 63206; }`, widely
# cited; not on a Meta page). Counted in Unicode code points, as Python's len() does.
MESSAGE_LIMIT = 63_206


def normalise_message(text: str) -> str:
    """The form used to compare a message with what Facebook stored: NFC, whitespace runs collapsed, trimmed.

    Facebook keeps the message text but may rewrite line endings and surrounding whitespace.
    """
    return " ".join(unicodedata.normalize("NFC", text).split())


class MetaContentRules(ContentRules):
    """Meta refuses anything over the limit: the X-only over-length policy does not apply here."""

    def prepare(self, draft: Draft) -> PreparedPost:
        check_media(draft.media, draft.surface)
        if not draft.text.strip():
            raise ContentRuleViolation(
                "meta.message_required",
                "meta.message_required: a Page post needs a non-empty message",
            )
        length = len(draft.text)
        if length > MESSAGE_LIMIT:
            excess = length - MESSAGE_LIMIT
            raise ContentRuleViolation(
                "meta.message_length",
                f"meta.message_length: message is {length} characters, {excess} over the {MESSAGE_LIMIT} limit",
                limit=MESSAGE_LIMIT,
                actual=length,
            )
        return PreparedPost(parts=(draft.text,), link=draft.link, media=draft.media)
