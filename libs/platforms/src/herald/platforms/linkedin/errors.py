"""Classification of LinkedIn failures into :class:`~herald.platforms.base.PlatformError` (docs/platforms.md,
"LinkedIn: errors").

LinkedIn error bodies carry ``status``, ``serviceErrorCode``, usually ``code`` and ``message``; validation errors
add ``errorDetails.inputErrors[].code``. Classification looks at those first and at the HTTP status second:

============================================  =====================================================
401 ``EXPIRED_ACCESS_TOKEN`` (65602)          ``REFRESH_TOKEN`` (the pipeline reconnects if it has no refresh token)
401 ``INVALID_ACCESS_TOKEN`` (65600)          ``REFRESH_TOKEN`` (once; a second refusal means reconnect)
401 ``REVOKED_ACCESS_TOKEN`` (65601)          ``RECONNECT`` (the member removed the app)
401 ``Empty oauth2_access_token`` (401)       ``PERMANENT`` (a bug: no token was sent)
403 ``ACCESS_DENIED``                         ``PERMANENT`` (missing product/scope or page role)
400 ``VERSION_MISSING`` / 426 ``NONEXISTENT_VERSION``  ``CONFIGURATION`` (Herald's LinkedIn-Version setting)
422 ``DUPLICATE_POST``                        ``DUPLICATE`` with ``existing_post_id`` = the URN in the message
other 400 / 422                               ``PERMANENT`` (validation)
429                                           ``RETRY_LATER`` (see :func:`_retry_at`)
5xx, or a Postiz "transient" body             ``UNKNOWN_OUTCOME`` on a create, ``RETRY_LATER`` on a read
timeout / reset / protocol error              ``UNKNOWN_OUTCOME`` on a create, ``RETRY_LATER`` on a read
connection never established                  ``RETRY_LATER`` (nothing was sent)
============================================  =====================================================
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpx

from herald.platforms.base import ErrorClass, PlatformError
from herald.platforms.hints import retry_after
from herald.platforms.http import excerpt, redact

EXCERPT_CHARS = 300
_DUPLICATE_URN = re.compile(r"urn:li:(?:share|ugcPost):\d+")
# Bodies Postiz retries although their status is a 4xx (docs/platforms.md, "LinkedIn: errors").
_TRANSIENT_MARKERS = ("Unable to obtain activity", "resource is forbidden", "Service Unavailable")
# The documented wording of LinkedIn's daily (per-app / per-member) quota 429 (docs/platforms.md, "LinkedIn: rate
# limits").
# The version Herald sends (a setting) is missing or sunset: an operator must move it (docs/platforms.md,
# "LinkedIn: versions").
_VERSION_CODES = frozenset({"VERSION_MISSING", "NONEXISTENT_VERSION"})
_DAILY_THROTTLE_MARKER = "throttle limit"


@dataclass(frozen=True)
class LinkedInErrorBody:
    """The fields of a LinkedIn error body that classification needs (all optional)."""

    status: int | None = None
    service_error_code: int | None = None
    code: str | None = None
    message: str = ""
    input_error_codes: tuple[str, ...] = ()

    @classmethod
    def parse(cls, response: httpx.Response) -> LinkedInErrorBody:
        try:
            data = json.loads(response.content or b"null")
        except ValueError:
            return cls(message=response.text[:200])
        if not isinstance(data, dict):
            return cls()
        return cls(
            status=_int_or_none(data.get("status")),
            service_error_code=_int_or_none(data.get("serviceErrorCode")),
            code=data.get("code") if isinstance(data.get("code"), str) else None,
            message=str(data.get("message") or data.get("error_description") or ""),
            input_error_codes=_input_error_codes(data),
        )


def classify_response(
    response: httpx.Response, *, creating: bool, now: dt.datetime | None = None, secrets: Iterable[str] = ()
) -> PlatformError:
    """Classify a non-success answer of the LinkedIn API. ``creating`` is True for ``POST /rest/posts``."""
    now = now or dt.datetime.now(dt.UTC)
    body = LinkedInErrorBody.parse(response)
    error_class = _error_class(response.status_code, body, creating)
    code = f" {body.code}" if body.code else ""
    message = f"LinkedIn answered {response.status_code}{code}: {body.message or response.reason_phrase}"
    return PlatformError(
        error_class,
        redact(message[:300], secrets),
        http_status=response.status_code,
        platform_code=_platform_code(body),
        retry_at=_retry_at(response, body, now) if response.status_code == 429 else None,
        existing_post_id=_existing_post_id(body) if error_class is ErrorClass.DUPLICATE else None,
        response_excerpt=excerpt(response, secrets, EXCERPT_CHARS),  # redacted before it is cut
    )


def classify_transport(error: httpx.TransportError, *, creating: bool) -> PlatformError:
    """Classify a failure to get any answer. Only a connection that was never made proves nothing was sent."""
    kind = type(error).__name__
    if isinstance(error, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return PlatformError(ErrorClass.RETRY_LATER, f"Could not reach LinkedIn ({kind}); nothing was sent")
    if creating:
        return PlatformError(
            ErrorClass.UNKNOWN_OUTCOME,
            f"LinkedIn create got no answer ({kind}); the post may exist: reconcile before sending again",
        )
    return PlatformError(ErrorClass.RETRY_LATER, f"LinkedIn read got no answer ({kind})")


def _error_class(status: int, body: LinkedInErrorBody, creating: bool) -> ErrorClass:
    if status == 401:
        return _token_error_class(body)
    if status == 429:
        return ErrorClass.RETRY_LATER
    if _is_duplicate(status, body):
        return ErrorClass.DUPLICATE
    if body.code in _VERSION_CODES:
        return ErrorClass.CONFIGURATION
    if status >= 500 or any(marker in body.message for marker in _TRANSIENT_MARKERS):
        return ErrorClass.UNKNOWN_OUTCOME if creating else ErrorClass.RETRY_LATER
    if 400 <= status < 500:
        return ErrorClass.PERMANENT
    # Anything else (a redirect, an odd 2xx) is not understood: a create may have happened.
    return ErrorClass.UNKNOWN_OUTCOME if creating else ErrorClass.RETRY_LATER


def _token_error_class(body: LinkedInErrorBody) -> ErrorClass:
    # The symbolic code wins over the number: one observed EXPIRED body carried 65600 (docs/platforms.md,
    # "LinkedIn: errors").
    if body.code == "REVOKED_ACCESS_TOKEN" or (body.code is None and body.service_error_code == 65601):
        return ErrorClass.RECONNECT
    if body.service_error_code == 401 and body.code is None:
        return ErrorClass.PERMANENT  # "Empty oauth2_access_token": we sent no token, a bug
    return ErrorClass.REFRESH_TOKEN


def _is_duplicate(status: int, body: LinkedInErrorBody) -> bool:
    return status == 422 and ("DUPLICATE_POST" in body.input_error_codes or "is a duplicate of" in body.message)


def _existing_post_id(body: LinkedInErrorBody) -> str | None:
    match = _DUPLICATE_URN.search(body.message)
    return match.group(0) if match else None


def _retry_at(response: httpx.Response, body: LinkedInErrorBody, now: dt.datetime) -> dt.datetime | None:
    """LinkedIn documents no reset header on a 429 (docs/platforms.md, "LinkedIn: rate limits"); honour
    ``Retry-After`` if one comes.

    Otherwise the documented daily-quota message means "after midnight UTC", when the daily counters reset; any
    other 429 (infrastructure protection) gets no hint, so the pipeline backs off instead of waiting a day.
    """
    hinted = retry_after(response.headers.get("retry-after"), now)
    if hinted is not None:
        return hinted
    if _DAILY_THROTTLE_MARKER in body.message.lower():
        today = now.astimezone(dt.UTC).date()
        return dt.datetime.combine(today + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    return None


def _platform_code(body: LinkedInErrorBody) -> str | None:
    if body.input_error_codes:
        return body.input_error_codes[0]
    if body.code:
        return body.code
    return str(body.service_error_code) if body.service_error_code is not None else None


def _input_error_codes(data: dict[str, Any]) -> tuple[str, ...]:
    details = data.get("errorDetails")
    errors = details.get("inputErrors") if isinstance(details, dict) else None
    if not isinstance(errors, list):
        return ()
    return tuple(str(e["code"]) for e in errors if isinstance(e, dict) and e.get("code"))


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) else None
