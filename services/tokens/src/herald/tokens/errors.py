"""What the tokens use cases can refuse, in one place; :mod:`herald.tokens.api` maps each to an HTTP answer.

``AccountNotFound``           404: no such account, or another team's (the two are indistinguishable).
``CallerForbidden``           403: an internal caller asked for an account of another platform.
``AccountUnusable``           409: the account needs reconnecting (``reauth_required``) or was ``disconnected``.
``RefreshUnavailable``        503 + ``Retry-After``: the platform's token endpoint failed transiently.
``TokenUnreadable``           500: a stored ciphertext does not decrypt (missing key, or moved between rows).
``PlatformNotConfigured``     503: this deployment has no client credentials for the platform.
``ConnectNotConfigured``      503: outside development, no redirect allow-list is configured: connecting is refused.
``InvalidRedirectUri``        422: a connect request named a redirect URI that is not allowed.
``InvalidState``              400: an OAuth callback's state is forged, unknown, used, expired or for another platform.
``AuthorizationDenied``       400: the platform's consent screen answered with an error (e.g. the user cancelled).
``ConnectFailed``             502: the code exchange or identity lookup failed (``transient``: retrying may help).

No message here ever contains a token or a code.
"""

from __future__ import annotations

import uuid

from herald.contracts.platform import Platform


class TokensError(Exception):
    """Base class of the refusals above."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class AccountNotFound(TokensError):
    def __init__(self, account_id: uuid.UUID) -> None:
        super().__init__(f"account {account_id} not found")
        self.account_id = account_id


class CallerForbidden(TokensError):
    pass


class AccountUnusable(TokensError):
    """``error`` is ``reauth_required`` or ``disconnected``."""

    def __init__(self, account_id: uuid.UUID, error: str, message: str) -> None:
        super().__init__(message)
        self.account_id = account_id
        self.error = error


class RefreshUnavailable(TokensError):
    def __init__(self, account_id: uuid.UUID, retry_after_seconds: float, message: str) -> None:
        super().__init__(message)
        self.account_id = account_id
        self.retry_after_seconds = retry_after_seconds


class TokenUnreadable(TokensError):
    def __init__(self, account_id: uuid.UUID) -> None:
        super().__init__(f"the stored token of account {account_id} cannot be decrypted")
        self.account_id = account_id


class PlatformNotConfigured(TokensError):
    def __init__(self, platform: Platform) -> None:
        super().__init__(f"platform {platform.value} is not configured on this service")
        self.platform = platform


class ConnectNotConfigured(TokensError):
    """Outside development an empty redirect allow-list would let a connect request send the user, with a fresh
    authorization code, to any URL: the flow refuses to start until ``HERALD_ALLOWED_REDIRECT_URIS`` is set."""


class InvalidRedirectUri(TokensError):
    pass


class InvalidState(TokensError):
    pass


class AuthorizationDenied(TokensError):
    pass


class ConnectFailed(TokensError):
    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient
