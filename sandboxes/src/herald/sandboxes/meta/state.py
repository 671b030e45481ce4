"""What the Meta sandbox remembers beyond the shared :class:`SandboxState`: users, Pages, token lineage."""

from __future__ import annotations

import asyncio
import datetime as dt
import zlib
from collections import Counter, deque
from dataclasses import dataclass, field

from herald.sandboxes.control import SandboxState
from herald.sandboxes.meta.config import MetaSandboxConfig, SandboxInstagram, SandboxPage, SandboxUser, VersionPolicy
from herald.sandboxes.meta.media_state import Container, Upload, VideoSession
from herald.sandboxes.meta.usage import UsageMeter
from herald.sandboxes.oauth import Grant


class Directory:
    """Facebook users and Pages. Accounts that are not users are Pages (created on first use)."""

    def __init__(self, users: list[SandboxUser]) -> None:
        self._users: dict[str, SandboxUser] = {}
        self._pages: dict[str, SandboxPage] = {}
        self._owner: dict[str, str] = {}
        self._instagram: dict[str, tuple[SandboxInstagram, str]] = {}  # IG user id -> (account, linked Page id)
        for user in users:
            self._add(user)

    def _add(self, user: SandboxUser) -> SandboxUser:
        self._users[user.id] = user
        for page in user.pages:
            self._pages[page.id] = page
            self._owner[page.id] = user.id
            if page.instagram is not None:
                self._instagram[page.instagram.id] = (page.instagram, page.id)
        return user

    def is_user(self, account: str) -> bool:
        return account in self._users

    def user(self, user_id: str) -> SandboxUser:
        """A known user, or a new one (with one Page) for a name given to the Login dialog."""
        known = self._users.get(user_id)
        if known is not None:
            return known
        page_id = str(200_000_000_000_000 + zlib.crc32(user_id.encode()))
        return self._add(SandboxUser(id=user_id, name=user_id, pages=[SandboxPage(id=page_id, name=f"{user_id} Page")]))

    def page(self, page_id: str) -> SandboxPage:
        return self._pages.get(page_id) or SandboxPage(id=page_id, name=f"Page {page_id}")

    def owner(self, page_id: str) -> str | None:
        return self._owner.get(page_id)

    def instagram(self, ig_user_id: str) -> tuple[SandboxInstagram, str] | None:
        """The Instagram professional account with this id and the Page it is linked to."""
        return self._instagram.get(ig_user_id)


@dataclass
class MetaSandbox:
    """The whole Meta sandbox: shared state (tokens, posts, faults, counters) plus Meta-only bookkeeping."""

    config: MetaSandboxConfig
    state: SandboxState
    versions: VersionPolicy
    directory: Directory
    usage: UsageMeter
    # (page id, message) -> latest post id with that message, for (#506); checked against the ledger.
    duplicates: dict[tuple[str, str], str] = field(default_factory=dict)
    # (user token, page id) -> Page token, and Page token -> the user token it came from.
    page_tokens: dict[tuple[str, str], str] = field(default_factory=dict)
    parents: dict[str, str] = field(default_factory=dict)
    long_lived: set[str] = field(default_factory=set)
    # Media: Page photos and videos, Instagram containers, IG publish times (for content_publishing_limit).
    uploads: dict[str, Upload] = field(default_factory=dict)
    containers: dict[str, Container] = field(default_factory=dict)
    video_sessions: dict[str, VideoSession] = field(default_factory=dict)
    ig_publishes: dict[str, list[dt.datetime]] = field(default_factory=dict)
    # Every media call counted by "{account}/{edge}" (photos, videos, media, media_publish), for retry tests.
    media_requests: Counter[str] = field(default_factory=Counter)
    # Outcomes forced on the next containers created ("ERROR" or "EXPIRED"), oldest first.
    container_faults: deque[str] = field(default_factory=deque)
    downloads: set[asyncio.Task[None]] = field(default_factory=set)

    def page_token(self, user: Grant, page_id: str, now: dt.datetime) -> str:
        """The Page token a user token yields for one of its Pages (stable per user token).

        Page tokens from a long-lived (or non-expiring) user token never expire; from a short-lived one they
        expire with it (https://developers.facebook.com/docs/facebook-login/guides/access-tokens; error 190/463 in
        https://developers.facebook.com/docs/graph-api/guides/error-handling). Revoking the user (simulated password
        change) invalidates them, see :func:`herald.sandboxes.meta.auth.authenticate`.
        """
        key = (user.access_token, page_id)
        token = self.page_tokens.get(key)
        if token is not None:
            return token
        ttl = None
        if user.expires_at is not None and user.access_token not in self.long_lived:
            ttl = max(user.expires_at - now, dt.timedelta(seconds=1))
        grant = self.state.tokens.mint(page_id, user.scopes, client_id=user.client_id, access_ttl=ttl)
        self.page_tokens[key] = grant.access_token
        self.parents[grant.access_token] = user.access_token
        return grant.access_token
