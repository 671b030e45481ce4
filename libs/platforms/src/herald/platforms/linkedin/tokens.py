"""LinkedIn's token endpoint answers: token sets and the refresh-failure forms.

Sources: docs/platforms.md, "LinkedIn: OAuth" and "Dead refresh tokens".
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import httpx

from herald.platforms import http
from herald.platforms.base import ErrorClass, PlatformError, RefreshError, TokenSet

# A dead, expired or revoked refresh token comes back as invalid_request, not invalid_grant (docs/platforms.md,
# "Dead refresh tokens"); an invalid_request naming client_secret is Herald's configuration, see herald.platforms.http.
PERMANENT_REFRESH_ERRORS = frozenset({"invalid_request", "invalid_grant"})
_EXCHANGE_CLASSES = {
    http.TokenFailure.TRANSIENT: ErrorClass.RETRY_LATER,
    http.TokenFailure.CONFIGURATION: ErrorClass.CONFIGURATION,
    http.TokenFailure.REJECTED: ErrorClass.PERMANENT,
}
_SCOPE_SEPARATORS = re.compile(r"[,\s]+")


def token_set(data: dict[str, Any], now: dt.datetime) -> TokenSet:
    """Parse a 200 answer. No ``refresh_token`` key means "keep the one you have" (``None``)."""
    access = data.get("access_token")
    if not isinstance(access, str) or not access:
        raise ValueError("token answer without access_token")
    refresh = data.get("refresh_token")
    # refresh_token_expires_in is read as seconds (the official client's field, 365-day TTL = 31536000). LinkedIn's
    # doc sample is often quoted with 525600, which would be minutes, so the unit is not certain (docs/platforms.md,
    # "LinkedIn: OAuth"); we follow the documented one-year TTL expressed in seconds.
    return TokenSet(
        access_token=access,
        refresh_token=refresh if isinstance(refresh, str) and refresh else None,
        expires_at=_after(data.get("expires_in"), now),
        refresh_expires_at=_after(data.get("refresh_token_expires_in"), now),
        scopes=_scopes(data.get("scope")),
    )


def refresh_error(response: httpx.Response) -> RefreshError:
    """Why a refresh failed. Only a rejected grant is permanent; outages, 429s and odd answers are transient.

    A 401 ``invalid_client`` or a 400 ``invalid_request`` naming ``client_secret`` (our client id/secret) is a
    configuration failure: reconnecting every account cannot fix Herald's own configuration.
    """
    error, description = http.oauth_error(response)
    failure = http.token_failure(response.status_code, error, description)
    rejected = failure is http.TokenFailure.REJECTED
    return RefreshError(
        f"LinkedIn refused the refresh ({response.status_code} {error}: {description})",
        permanent=rejected and response.status_code == 400 and error in PERMANENT_REFRESH_ERRORS,
        configuration=failure is http.TokenFailure.CONFIGURATION,
        http_status=response.status_code,
    )


def exchange_error(response: httpx.Response) -> PlatformError:
    """Why a code exchange failed: a bad/expired code is permanent, our client refused is configuration, an outage
    is transient."""
    error, description = http.oauth_error(response)
    return PlatformError(
        _EXCHANGE_CLASSES[http.token_failure(response.status_code, error, description)],
        f"LinkedIn refused the code exchange ({response.status_code} {error}: {description})",
        http_status=response.status_code,
        platform_code=error or None,
        response_excerpt=http.excerpt(response),
    )


def _after(seconds: object, now: dt.datetime) -> dt.datetime | None:
    if isinstance(seconds, int) and not isinstance(seconds, bool):
        return now + dt.timedelta(seconds=seconds)
    return None


def _scopes(value: object) -> tuple[str, ...]:
    # LinkedIn has been seen answering comma-separated scopes; accept spaces too.
    if not isinstance(value, str):
        return ()
    return tuple(scope for scope in _SCOPE_SEPARATORS.split(value) if scope)
