"""How stored posts look in X's answers (``data`` objects and the ``tweet.fields`` they may carry)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from herald.sandboxes.ledger import StoredPost

# Every tweet.fields value X accepts (OpenAPI v2.167); the sandbox fills those it can and omits the rest,
# as X omits fields that do not apply.
TWEET_FIELDS = frozenset(
    {
        "article", "attachments", "author_id", "card_uri", "community_id", "context_annotations",
        "conversation_id", "created_at", "display_text_range", "edit_controls", "edit_history_tweet_ids",
        "entities", "geo", "id", "in_reply_to_user_id", "lang", "media_metadata", "non_public_metrics",
        "note_tweet", "organic_metrics", "possibly_sensitive", "promoted_metrics", "public_metrics",
        "referenced_tweets", "reply_settings", "scopes", "source", "suggested_source_links", "text", "withheld",
    }
)  # fmt: skip
USER_FIELDS = frozenset(
    {
        "affiliation", "connection_status", "created_at", "description", "entities", "id", "location",
        "most_recent_tweet_id", "name", "pinned_tweet_id", "profile_banner_url", "profile_image_url", "protected",
        "public_metrics", "receives_your_dm", "subscription_type", "url", "username", "verified", "verified_type",
        "withheld",
    }
)  # fmt: skip


def x_timestamp(post: StoredPost) -> str:
    """X's ``created_at``: ``2026-11-28T15:04:05.000Z``."""
    moment = post.created_at
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def tweet_view(post: StoredPost, fields: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The ``data`` object of one post: id, text (t.co-rewritten), edit history, plus requested fields."""
    view: dict[str, Any] = {
        "edit_history_tweet_ids": [post.id],
        "id": post.id,
        "text": post.data.get("display_text", post.text),
    }
    optional: dict[str, Callable[[], Any]] = {
        "created_at": lambda: x_timestamp(post),
        "author_id": lambda: post.data.get("author_id"),
        "conversation_id": lambda: post.data.get("conversation_id", post.id),
        "in_reply_to_user_id": lambda: post.data.get("in_reply_to_user_id"),
        "referenced_tweets": lambda: _references(post),
        "entities": lambda: {"urls": post.data["urls"]} if post.data.get("urls") else None,
        "reply_settings": lambda: "everyone",
        "attachments": lambda: post.data.get("attachments"),
    }
    for name in sorted(fields & optional.keys()):
        value = optional[name]()
        if value is not None:
            view[name] = value
    return view


def _references(post: StoredPost) -> list[dict[str, str]] | None:
    parent = post.data.get("in_reply_to_tweet_id")
    return [{"type": "replied_to", "id": parent}] if parent else None


def parse_fields(raw: str | None, allowed: frozenset[str]) -> tuple[frozenset[str], list[str]]:
    """Split a ``tweet.fields=a,b`` value; returns the fields and the ones X would refuse."""
    fields = frozenset(f for f in (raw or "").split(",") if f)
    return fields, sorted(fields - allowed)
