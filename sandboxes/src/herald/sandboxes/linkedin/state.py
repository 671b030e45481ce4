"""What the LinkedIn sandbox remembers beyond the shared :class:`SandboxState`, and how it names accounts."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field

from herald.sandboxes.control import SandboxState
from herald.sandboxes.ledger import StoredPost
from herald.sandboxes.linkedin.assets import Asset
from herald.sandboxes.linkedin.config import LinkedInSandboxConfig
from herald.sandboxes.oauth import Grant, TokenAuthority

PERSON_PREFIX = "urn:li:person:"
ORGANIZATION_PREFIX = "urn:li:organization:"
FIRST_SHARE_ID = 7_200_000_000_000_000_000  # real share ids are 19-digit numbers


@dataclass
class LinkedInState(SandboxState):
    """Adds an O(1) duplicate index and daily post counters; ``reset`` clears them with the rest."""

    duplicates: dict[tuple[str, str], StoredPost] = field(default_factory=dict)
    daily_posts: Counter[tuple[str, dt.date]] = field(default_factory=Counter)
    assets: dict[str, Asset] = field(default_factory=dict)
    """Images and videos by URN (``herald.sandboxes.linkedin.media``)."""
    media_requests: Counter[str] = field(default_factory=Counter)
    """Media calls by ``{kind}.{step}`` (``image.initializeUpload``, ``video.upload``, ``video.finalizeUpload`` ...)."""

    def reset(self) -> None:
        super().reset()
        self.duplicates.clear()
        self.daily_posts.clear()
        self.assets.clear()
        self.media_requests.clear()

    def duplicate_of(self, account: str, commentary: str, window: dt.timedelta) -> StoredPost | None:
        post = self.duplicates.get((account, commentary))
        if post is None or self.posts.get(post.id) is not post:  # deleted or forgotten since
            return None
        return post if post.created_at >= dt.datetime.now(dt.UTC) - window else None

    def remember(self, post: StoredPost) -> StoredPost:
        self.posts.add(post)
        self.duplicates[(post.account, post.text)] = post
        return post

    def next_share_urn(self) -> str:
        return f"urn:li:share:{FIRST_SHARE_ID + self.posts.next_number()}"


def new_state(config: LinkedInSandboxConfig) -> LinkedInState:
    tokens = TokenAuthority(
        prefix="li",
        access_ttl=config.access_token_ttl,
        refresh_ttl=config.refresh_token_ttl,
        issue_refresh=config.issue_refresh_tokens,
        rotate_refresh=False,  # the same refresh token, its TTL counting down (see config.py: programmatic refresh)
        clients=dict(config.clients),
    )
    return LinkedInState(tokens=tokens)


def account_key(author: str) -> str:
    """The sandbox account name of an author: a member's ``sub`` for a person, the full URN for a Page.

    Members are named by ``sub`` everywhere (tokens, faults, ``/_sandbox/posts?account=``), so
    ``urn:li:person:alice`` is ``alice``; organizations hold no tokens and keep their URN.
    """
    return author.removeprefix(PERSON_PREFIX)


def person_urn(member: str) -> str:
    return f"{PERSON_PREFIX}{member}"


def granted_scopes(grant: Grant, config: LinkedInSandboxConfig) -> frozenset[str]:
    """A token minted through the control API without scopes gets the app's default scopes."""
    return frozenset(grant.scopes or config.default_scopes)


def member_role(config: LinkedInSandboxConfig, organization_urn: str, member: str) -> str | None:
    organization = config.organizations.get(organization_urn.removeprefix(ORGANIZATION_PREFIX))
    return organization.roles.get(member) if organization else None
