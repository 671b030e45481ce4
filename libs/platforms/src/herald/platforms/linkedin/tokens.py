"""LinkedIn's token endpoint answers: token sets and the refresh-failure forms (reference 2.3 and 0.2)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import httpx

from herald.platforms.base import ErrorClass, PlatformError, RefreshError, TokenSet

# A dead, expired or revoked refresh token comes back as invalid_request, not invalid_grant [OBS, reference 0.2].
PERMANENT_REFRESH_ERRORS = frozenset({"invalid_request", "invalid_grant"})
_SCOPE_SEPARATORS = re.compile(r"[,\s]+")


def token_set(data: dict[str, Any], now: dt.datetime) -> TokenSet:
    """Parse a 200 answer. No ``refresh_token`` key means "keep the one you have" (``None``)."""
    access = data.get("access_token")
    if not isinstance(access, str) or not access:
        raise ValueError("token answer without access_token")
    refresh = data.get("refresh_token")
    # refresh_token_expires_in is read as seconds (the official client's field, 365-day TTL = 31536000). LinkedIn's
    # doc sample is often quoted with 525600, which would be minutes: the unit is [UNCERTAIN] (reference 5); we
    # follow the documented one-year TTL expressed in seconds.
    return TokenSet(
        access_token=access,
        refresh_token=refresh if isinstance(refresh, str) and refresh else None,
        expires_at=_after(data.get("expires_in"), now),
        refresh_expires_at=_after(data.get("refresh_token_expires_in"), now),
        scopes=_scopes(data.get("scope")),
    )


def refresh_error(response: httpx.Response) -> RefreshError:
    """Why a refresh failed. Only a rejected grant is permanent; outages, 429s and odd answers are transient.

    A 401 ``invalid_client`` (our client id/secret) is deliberately transient: reconnecting every account cannot
    fix Herald's own configuration, and marking them all "reconnect" would be worse than retrying.
    """
    error, description = oauth_error(response)
    permanent = response.status_code == 400 and error in PERMANENT_REFRESH_ERRORS
    return RefreshError(
        f"LinkedIn refused the refresh ({response.status_code} {error}: {description})",
        permanent=permanent,
        http_status=response.status_code,
    )


def exchange_error(response: httpx.Response) -> PlatformError:
    """Why a code exchange failed: a bad/expired code or redirect mismatch is permanent, an outage is not."""
    error, description = oauth_error(response)
    transient = response.status_code >= 500 or response.status_code == 429
    return PlatformError(
        ErrorClass.RETRY_LATER if transient else ErrorClass.PERMANENT,
        f"LinkedIn refused the code exchange ({response.status_code} {error}: {description})",
        http_status=response.status_code,
        platform_code=error or None,
        response_excerpt=response.text[:300],
    )


def oauth_error(response: httpx.Response) -> tuple[str, str]:
    """``(error, error_description)`` of an OAuth error body; empty strings when the body is not one."""
    try:
        data = response.json()
    except ValueError:
        return "", ""
    if not isinstance(data, dict):
        return "", ""
    return str(data.get("error") or ""), str(data.get("error_description") or data.get("message") or "")[:200]


def _after(seconds: object, now: dt.datetime) -> dt.datetime | None:
    if isinstance(seconds, int) and not isinstance(seconds, bool):
        return now + dt.timedelta(seconds=seconds)
    return None


def _scopes(value: object) -> tuple[str, ...]:
    # LinkedIn has been seen answering comma-separated scopes; accept spaces too.
    if not isinstance(value, str):
        return ()
    return tuple(scope for scope in _SCOPE_SEPARATORS.split(value) if scope)
