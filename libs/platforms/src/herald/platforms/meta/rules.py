"""Facebook Page post content rules, applied before anything is sent."""

from __future__ import annotations

import unicodedata

from herald.contracts.media import Surface
from herald.platforms.base import ContentRules, ContentRuleViolation, Draft, PreparedPost
from herald.platforms.meta.media_rules import check_media

# Page post `message` limit (docs/platforms.md, "Meta: posting": Postiz `maxLength() { return 63206; }`, widely
# cited; not on a Meta page). Counted in Unicode code points, as Python's len() does.
MESSAGE_LIMIT = 63_206
# Instagram caption limit (docs/platforms.md, "Instagram: publishing"): 2,200 characters, observed (Ayrshare's
# Instagram page); the sandbox refuses longer captions too. The link, appended to the caption, counts.
CAPTION_LIMIT = 2_200


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
        if draft.surface is Surface.INSTAGRAM:
            caption = len(draft.text) + (len(draft.link) + 2 if draft.link and draft.link not in draft.text else 0)
            if caption > CAPTION_LIMIT:
                raise ContentRuleViolation(
                    "instagram.caption_length",
                    f"instagram.caption_length: caption is {caption} characters (link included), "
                    f"{caption - CAPTION_LIMIT} over the {CAPTION_LIMIT} limit",
                    limit=CAPTION_LIMIT,
                    actual=caption,
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
