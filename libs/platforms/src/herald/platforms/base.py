"""The seams every platform implements, and the outcome vocabulary the publisher pipeline understands.

A platform package (``herald.platforms.x``, ``.linkedin``, ``.meta``) provides:

* a :class:`PlatformClient`: publish one post, and read back what an account published (reconciliation);
* content rules: :class:`ContentRules` turns a draft into the exact text(s) to send, or raises
  :class:`ContentRuleViolation` naming the rule and by how much it was broken;
* an :class:`OAuthClient`: authorization URL, code exchange, refresh, identity lookup.

Failures are reported with one exception type, :class:`PlatformError`, whose :class:`ErrorClass` tells the
pipeline what to do. The classes (docs/platforms.md, "Error classes"):

``RETRY_LATER``
    Transient, the create certainly did not happen (429, throttling, 5xx on a read). ``retry_at`` carries the
    platform's reset hint (``Retry-After``, ``x-rate-limit-reset``, ``estimated_time_to_regain_access``) if any.
    A hint further away than the longest retry tier (a usage cap resetting at the end of the month) holds the
    account until then instead of using up attempts.
``REFRESH_TOKEN``
    The access token was refused but a refresh may fix it: force a refresh, then retry once.
``RECONNECT``
    A human must reconnect the account (revoked token, Meta code 190, refresh token rejected).
``PERMANENT``
    Content error, or a refusal specific to this post or account: retrying the same request cannot succeed.
``CONFIGURATION``
    Herald's own setup is wrong (client id or secret refused, redirect URI not registered, the app lacks the
    product or the credits): an operator must fix it. Never the user's fault, so never "reconnect"; the post waits.
``DUPLICATE``
    The platform says this exact content was already posted. ``existing_post_id`` is set when the platform
    tells us which post (LinkedIn does; X and Meta do not).
``UNKNOWN_OUTCOME``
    A create was sent and we do not know whether it happened (timeout, connection reset, 5xx after sending).
    Reconcile with :meth:`PlatformClient.find_published` before sending again.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from herald.contracts.media import MediaReference, Surface
from herald.contracts.platform import Platform
from herald.contracts.publishing import OverLengthPolicy as OverLengthPolicy  # noqa: PLC0414 (re-export)

SANDBOX_CLIENT_ID = "herald-dev"
SANDBOX_CLIENT_SECRET = "herald-dev-secret"
"""The OAuth client every Herald sandbox knows out of the box (development and tests only)."""


class ErrorClass(StrEnum):
    """What the publisher pipeline should do about a failed platform call."""

    RETRY_LATER = "retry_later"
    REFRESH_TOKEN = "refresh_token"
    RECONNECT = "reconnect"
    PERMANENT = "permanent"
    CONFIGURATION = "configuration"
    DUPLICATE = "duplicate"
    UNKNOWN_OUTCOME = "unknown_outcome"


class PlatformError(Exception):
    """A classified platform failure. Its message and excerpt never contain a token."""

    def __init__(
        self,
        error_class: ErrorClass,
        message: str,
        *,
        http_status: int | None = None,
        platform_code: str | None = None,
        retry_at: dt.datetime | None = None,
        existing_post_id: str | None = None,
        response_excerpt: str = "",
        resend_is_safe: bool = False,
        app_wide: bool = False,
    ) -> None:
        super().__init__(message)
        self.app_wide = app_wide
        """The limit behind ``retry_at`` binds Herald's whole app on this platform, not just this account (X's
        product-scoped usage cap): every account waits until then."""
        self.resend_is_safe = resend_is_safe
        """For a failed read-back: sending the identical post again cannot duplicate it, because the platform then
        answers DUPLICATE naming the existing post (LinkedIn members, who cannot be read back)."""
        self.error_class = error_class
        self.message = message
        self.http_status = http_status
        self.platform_code = platform_code
        self.retry_at = retry_at
        self.existing_post_id = existing_post_id
        self.response_excerpt = response_excerpt[:500]


class ContentRuleViolation(ValueError):
    """A draft breaks a platform rule. ``message`` names the rule and by how much, for a 422 or an event."""

    def __init__(self, rule: str, message: str, *, limit: int | None = None, actual: int | None = None) -> None:
        super().__init__(message)
        self.rule = rule
        self.message = message
        self.limit = limit
        self.actual = actual


@dataclass(frozen=True)
class Draft:
    """What the user wants to post, before any platform rule is applied."""

    text: str
    link: str | None = None
    over_length: OverLengthPolicy = OverLengthPolicy.REJECT
    media: tuple[MediaReference, ...] = ()
    """Images or videos to attach, in order (media rules are checked by :class:`ContentRules` too)."""
    surface: Surface = Surface.DEFAULT
    """Where on the platform it is posted (Meta: a Facebook Page or Instagram), since the rules differ."""


@dataclass(frozen=True)
class PreparedPost:
    """Exactly what will be sent. ``parts`` has more than one entry only for an X thread."""

    parts: tuple[str, ...]
    link: str | None = None
    media: tuple[MediaReference, ...] = ()
    """Media to attach to the (first) post, in order."""

    @property
    def text(self) -> str:
        return self.parts[0]


@dataclass(frozen=True)
class Account:
    """The platform-side identity a post is published as (X user id, LinkedIn author URN, Facebook Page id)."""

    platform_account_id: str
    surface: Surface = Surface.DEFAULT
    """Meta only: whether the id is a Facebook Page or an Instagram professional account."""


@dataclass(frozen=True)
class PublishedPost:
    """A post that exists on the platform. For a thread, ``post_id`` is the first post's id."""

    post_id: str
    url: str | None = None
    published_at: dt.datetime | None = None
    thread_ids: tuple[str, ...] = ()


class MediaSource(Protocol):
    """Reads Herald's stored media for a platform upload (the object store, or a fake in tests)."""

    def stream(self, media: MediaReference, *, chunk_bytes: int) -> AsyncIterator[bytes]:
        """The object's bytes in chunks of ``chunk_bytes`` (the last may be shorter)."""
        ...

    def presigned_url(self, media: MediaReference, *, expires_in_seconds: int) -> str:
        """A short-lived GET URL a platform can fetch the object from (Instagram and Facebook fetch by URL)."""
        ...


@dataclass(frozen=True)
class UploadRecord:
    """What a platform returned for one uploaded media item, kept so a retry reuses it while it is valid.

    ``state`` is the adapter's own step name (e.g. ``initialized``, ``appended``, ``finalized``, ``container``,
    ``ready``); ``detail`` carries step data (e.g. segments sent, upload URLs), never a token.
    """

    platform_media_id: str
    state: str
    expires_at: dt.datetime | None = None
    detail: dict[str, str] = field(default_factory=dict)


class UploadMemory(Protocol):
    """The publisher ledger's record of upload steps for one distribution (durable before the next step)."""

    async def recall(self, media: MediaReference) -> UploadRecord | None:
        """The last recorded step for ``media`` in this distribution, if any."""
        ...

    async def remember(self, media: MediaReference, record: UploadRecord) -> None:
        """Record a step before anything depends on it."""
        ...


@dataclass(frozen=True)
class MediaContext:
    """What a client needs to publish a post with media: where the bytes are and what was already uploaded."""

    source: MediaSource
    memory: UploadMemory


class ContentRules(ABC):
    """Platform content rules, applied before anything is sent (and by the scheduler at schedule time)."""

    @abstractmethod
    def prepare(self, draft: Draft) -> PreparedPost:
        """Return the exact post to send, or raise :class:`ContentRuleViolation`."""


class PlatformClient(ABC):
    """Publishes to one platform. One instance per process; it owns a shared ``httpx.AsyncClient``."""

    platform: Platform

    @abstractmethod
    async def publish(
        self, account: Account, access_token: str, post: PreparedPost, media: MediaContext | None = None
    ) -> PublishedPost:
        """Create the post, uploading ``post.media`` first through ``media`` (required when ``post.media``).

        Raises :class:`PlatformError` on any failure.
        """

    @abstractmethod
    async def find_published(
        self, account: Account, access_token: str, post: PreparedPost, since: dt.datetime
    ) -> PublishedPost | None:
        """Look for ``post`` among what ``account`` published since ``since`` (matching the platform's rewrites).

        Returns ``None`` when it certainly is not there. Raises :class:`PlatformError` when that cannot be
        determined (the pipeline then reports the outcome as unconfirmed rather than posting blindly).
        """


@dataclass(frozen=True)
class TokenSet:
    """Tokens returned by a platform's token endpoint. Never logged."""

    access_token: str = field(repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    expires_at: dt.datetime | None = None
    refresh_expires_at: dt.datetime | None = None
    scopes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Identity:
    """An account a token can publish as. Meta returns one per Page, each with its own Page token."""

    platform_account_id: str
    name: str
    page_token: TokenSet | None = None
    surface: Surface = Surface.DEFAULT
    """Meta: a Facebook Page or the Instagram professional account linked to one (published with the Page token)."""


@dataclass(frozen=True)
class AuthorizationRequest:
    """An authorization URL plus the PKCE verifier to keep (server side) until the callback."""

    url: str
    code_verifier: str | None = None


class RefreshError(Exception):
    """A refresh failed. ``permanent`` is True when the refresh token itself was rejected (reconnect needed);
    ``configuration`` when the platform refused Herald's own client (an operator must act; never permanent)."""

    def __init__(
        self, message: str, *, permanent: bool, http_status: int | None = None, configuration: bool = False
    ) -> None:
        super().__init__(message)
        self.permanent = permanent and not configuration
        self.configuration = configuration
        self.http_status = http_status


class OAuthClient(ABC):
    """A platform's OAuth 2.0 flow. Client credentials come from settings; nothing here is logged."""

    platform: Platform

    @abstractmethod
    def authorization_url(self, state: str, redirect_uri: str) -> AuthorizationRequest:
        """Build the consent URL (with PKCE S256 where the platform requires it)."""

    @abstractmethod
    async def exchange_code(self, code: str, redirect_uri: str, code_verifier: str | None) -> TokenSet:
        """Exchange an authorization code for tokens."""

    @abstractmethod
    async def refresh(self, refresh_token: str) -> TokenSet:
        """Refresh. Raises :class:`RefreshError` (``permanent`` for a rejected grant, ``configuration`` for a
        refused client)."""

    @abstractmethod
    async def identities(self, access_token: str) -> list[Identity]:
        """Who this token can publish as."""


@dataclass(frozen=True)
class PlatformKit:
    """Everything Herald knows about one platform, built by ``herald.platforms.<name>.build(settings, http)``."""

    platform: Platform
    client: PlatformClient
    rules: ContentRules
    oauth: OAuthClient
