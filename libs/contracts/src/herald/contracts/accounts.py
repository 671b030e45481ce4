"""Connected accounts and their authorization, as seen by the tokens service.

None of these events carries token material: they say *that* something happened to an account's authorization,
never what the grant is. Consumers that need a token ask the tokens service for it.
"""

from __future__ import annotations

from uuid import UUID

from pydantic import Field

from herald.contracts.base import ShortText, TeamEvent, UtcDatetime
from herald.contracts.media import Surface
from herald.contracts.platform import Platform

_TOKENS = ("tokens",)


class _AccountEvent(TeamEvent):
    """Fields shared by the account and token events."""

    SUBJECT_FIELD = "account_id"
    PRODUCERS = _TOKENS

    account_id: UUID
    """Herald's id of the connected account."""
    platform: Platform
    """The account's platform; also the last word of the routing key."""


class _AccountIdentity(_AccountEvent):
    """An account event that names the platform-side identity."""

    platform_account_id: str = Field(min_length=1)
    """The platform's id of the identity posted as (X user id, LinkedIn author URN, Facebook Page id)."""
    account_name: str
    """The display name of that identity."""


class AccountConnected(_AccountIdentity):
    """An account was connected (or reconnected) and Herald may publish as it."""

    TYPE = "com.herald.account.connected"
    VERSION = 1
    CONSUMERS = ("scheduler", "audit")

    scopes: tuple[str, ...] = ()
    """The permissions the platform granted."""
    expires_at: UtcDatetime | None = None
    """When the current access grant expires, if it does (UTC)."""
    reconnected: bool = False
    """True when the account was connected before and a human connected it again."""
    surface: Surface | None = None
    """Where on the platform the account publishes (Meta: ``facebook_page`` or ``instagram``). Absent from older
    producers: read a Meta account without it as ``facebook_page``, any other as ``default``."""


class AccountDisconnected(_AccountIdentity):
    """An account was disconnected; Herald can no longer publish as it until it is connected again."""

    TYPE = "com.herald.account.disconnected"
    VERSION = 1
    CONSUMERS = ("scheduler", "audit")

    reason: ShortText
    """Why, e.g. ``disconnected by user`` or ``revoked on the platform``."""


class AccountReauthRequired(_AccountIdentity):
    """A human must reconnect the account (the grant was revoked, or it expires and cannot be refreshed)."""

    TYPE = "com.herald.account.reauth_required"
    VERSION = 1
    CONSUMERS = ("scheduler", "audit")

    reason: ShortText
    """Why, e.g. ``refresh grant rejected (invalid_grant)`` or ``LinkedIn grant expires in 7 days``."""
    expires_at: UtcDatetime | None = None
    """When publishing stops working, if known; in the past if it already has (UTC)."""


class TokenRefreshed(_AccountEvent):
    """The tokens service refreshed an account's access grant."""

    TYPE = "com.herald.token.refreshed"
    VERSION = 1
    CONSUMERS = ("audit",)

    expires_at: UtcDatetime | None = None
    """When the new access grant expires, if it does (UTC)."""
    rotated: bool = False
    """True when the platform also issued a new refresh grant (the old one is now invalid)."""


class TokenRefreshFailed(_AccountEvent):
    """A refresh of an account's access grant failed."""

    TYPE = "com.herald.token.refresh_failed"
    VERSION = 1
    CONSUMERS = ("audit",)

    transient: bool
    """True if a later refresh may succeed (network error, 5xx, rate limit); false if a human must reconnect."""
    reason: ShortText
    """What went wrong, in words (never contains a token)."""
    http_status: int | None = Field(default=None, ge=100, le=599)
    """The platform's HTTP status, if a response was received."""
    platform_code: str | None = Field(default=None, max_length=64)
    """The platform's error code, e.g. ``invalid_grant`` or Meta's ``190``."""
