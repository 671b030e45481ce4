"""What every platform adapter does with an HTTP answer before it classifies it.

* :func:`redact` / :func:`excerpt`: no token, secret or proof ever reaches a message, an excerpt or a log;
* :func:`json_body` / :func:`json_object`: read a body that may not be JSON (a proxy's HTML page, a cut body);
* :func:`oauth_error` and :func:`token_failure`: the RFC 6749 error form of a token endpoint, and what it means.

A token endpoint refusal falls in one of three kinds (:class:`TokenFailure`). ``CONFIGURATION`` means Herald's own
OAuth client is wrong (``invalid_client``, ``unauthorized_client``, a missing ``client_id``/``client_secret``, a
redirect URI the app does not register): no user can fix that by reconnecting, an operator must (see
docs/platforms.md, "Operator errors"). ``TRANSIENT`` is an outage or throttling. ``REJECTED`` is the grant itself
(code, refresh token) being refused.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from enum import StrEnum
from typing import Any

import httpx

REDACTED = "[redacted]"
EXCERPT_CHARS = 300

# RFC 6749 section 5.2: the client failed to authenticate, or may not use this grant.
CLIENT_ERRORS = frozenset({"invalid_client", "unauthorized_client"})
# Parameters only Herald's configuration supplies: an answer naming one of them is an operator's problem.
_CONFIGURATION_PARAMETERS = ("client_id", "client_secret", "redirect_uri")
_CONFIGURATION_ERRORS = frozenset({"redirect_uri_mismatch", "invalid_redirect_uri"})


class TokenFailure(StrEnum):
    """What a failed token-endpoint call means (see the module docstring)."""

    CONFIGURATION = "configuration"
    TRANSIENT = "transient"
    REJECTED = "rejected"


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every non-empty secret replaced by ``[redacted]`` (platforms echo malformed tokens back)."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return text


def excerpt(response: httpx.Response, secrets: Iterable[str] = (), limit: int = EXCERPT_CHARS) -> str:
    """The start of the body, redacted, for an error's ``response_excerpt``; empty when it cannot be read."""
    try:
        text = response.text
    except (UnicodeDecodeError, httpx.ResponseNotRead):
        return ""
    return redact(text, secrets)[:limit]


def json_body(response: httpx.Response) -> Any:
    """The decoded body, or ``None`` when it is not JSON."""
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError, httpx.ResponseNotRead):
        return None


def json_object(response: httpx.Response) -> dict[str, Any]:
    """The decoded body when it is a JSON object, else ``{}``."""
    body = json_body(response)
    return body if isinstance(body, dict) else {}


def oauth_error(response: httpx.Response) -> tuple[str, str]:
    """``(error, error_description)`` of an RFC 6749 error body; empty strings when the body is not one."""
    body = json_object(response)
    error = body.get("error")
    description = body.get("error_description") or body.get("message") or ""
    return (error if isinstance(error, str) else ""), str(description)[:200]


def is_transient_status(status: int) -> bool:
    """Throttling or an outage: the same request may succeed later."""
    return status == 429 or status >= 500


def names_configuration(error: str, description: str) -> bool:
    """An OAuth error that blames Herald's own client registration rather than the user's grant."""
    if error in CLIENT_ERRORS or error in _CONFIGURATION_ERRORS:
        return True
    text = description.lower()
    return error == "invalid_request" and any(parameter in text for parameter in _CONFIGURATION_PARAMETERS)


def token_failure(status: int, error: str, description: str) -> TokenFailure:
    """Classify a token endpoint's refusal (RFC 6749 section 5.2 plus the platforms' own forms).

    A 401 from a token endpoint is client authentication failing whatever the body says (X answers
    ``unauthorized_client``, LinkedIn ``invalid_client``).
    """
    if is_transient_status(status):
        return TokenFailure.TRANSIENT
    if status == 401 or names_configuration(error, description):
        return TokenFailure.CONFIGURATION
    return TokenFailure.REJECTED
