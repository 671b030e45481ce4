"""Classification of X API failures into :class:`PlatformError` (docs/platforms.md, "X: errors").

X answers errors with an RFC 7807-style problem (``title``, ``detail``, ``type``, ``status``), sometimes with an
``errors`` array, and older endpoints with ``{"errors":[{"code":N,"message":...}]}``. The classification looks at
the problem ``type`` (matched on its suffix: live bodies use both ``https://api.twitter.com/2/problems/...`` and
``https://api.x.com/2/problems/...``) and the detail text before falling back to the HTTP status.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import httpx

from herald.platforms import http
from herald.platforms.base import ErrorClass, PlatformError, RefreshError
from herald.platforms.hints import epoch_seconds, retry_after

EXCERPT_LENGTH = 300
DAILY_HEADER_PREFIXES = ("x-user-limit-24hour", "x-app-limit-24hour")
# Problem kinds that blame Herald's setup, not the post or the user (docs/platforms.md, "Operator errors").
OPERATOR_PROBLEMS = frozenset({"credits", "client-forbidden", "unsupported-authentication"})


class Call(StrEnum):
    """What kind of request failed: a create is not idempotent, so its ambiguous failures are unknown outcomes."""

    CREATE = "create"
    READ = "read"


@dataclass(frozen=True)
class Problem:
    """The parts of an X error body the classifier uses."""

    status: int
    title: str
    detail: str
    kind: str  # the problem type's last path segment ("usage-capped"), "" for about:blank
    legacy_code: str  # errors[0].code of the v1.1-style body, or the OAuth "error"; "" if absent
    text: str  # title, detail and every error message, lower-cased, for substring rules
    body: dict[str, Any]

    @property
    def code(self) -> str:
        """X's own name for the error: the problem kind, the legacy numeric code, or the title."""
        return self.kind or self.legacy_code or self.title or str(self.status)


def parse_problem(response: httpx.Response) -> Problem:
    body = http.json_object(response)
    errors = [e for e in body.get("errors") or [] if isinstance(e, dict)]
    problem_type = str(body.get("type") or (errors[0].get("type") if errors else "") or "")
    kind = problem_type.rstrip("/").rsplit("/", 1)[-1] if "/problems/" in problem_type else ""
    title = str(body.get("title") or "")
    detail = str(body.get("detail") or body.get("error_description") or "")
    messages = [str(e.get("message") or e.get("detail") or "") for e in errors]
    legacy = str(errors[0].get("code", "")) if errors and "code" in errors[0] else ""
    oauth_error = body.get("error")
    if isinstance(oauth_error, str):  # the token endpoint answers {"error": ..., "error_description": ...}
        legacy = legacy or oauth_error
    text = " ".join([title, detail, str(body.get("reason") or ""), *messages]).lower()
    return Problem(response.status_code, title, detail, kind, legacy, text, body)


def classify(
    response: httpx.Response, call: Call, *, now: dt.datetime | None = None, secrets: Iterable[str] = ()
) -> PlatformError:
    """Turn a failed X API response into a :class:`PlatformError` (never containing any of ``secrets``)."""
    now = now or dt.datetime.now(dt.UTC)
    problem = parse_problem(response)
    error_class, retry_at = _decide(problem, response.headers, call, now)
    summary = problem.detail or problem.title or (problem.text.strip() or response.reason_phrase)
    return PlatformError(
        error_class,
        http.redact(f"X API {response.status_code} ({problem.code}): {summary}", secrets),
        http_status=response.status_code,
        platform_code=problem.code,
        retry_at=retry_at,
        response_excerpt=excerpt(response, secrets),
        app_wide=error_class is ErrorClass.RETRY_LATER and is_app_wide(problem),
    )


def _decide(
    problem: Problem, headers: httpx.Headers, call: Call, now: dt.datetime
) -> tuple[ErrorClass, dt.datetime | None]:
    status = problem.status
    if status == 401:
        # Expired, invalid and revoked OAuth 2.0 tokens all get the same body: refresh once, then reconnect.
        return ErrorClass.REFRESH_TOKEN, None
    if status == 429 or problem.legacy_code == "88":
        return ErrorClass.RETRY_LATER, _rate_limit_reset(problem, headers, now)
    if status >= 500:
        # A create that got a 5xx may have been stored: reconcile before sending again.
        return (ErrorClass.UNKNOWN_OUTCOME if call is Call.CREATE else ErrorClass.RETRY_LATER), retry_after(
            headers.get("retry-after"), now
        )
    return _client_error_class(problem), None


def _client_error_class(problem: Problem) -> ErrorClass:
    if "duplicate content" in problem.text or problem.legacy_code == "187":
        return ErrorClass.DUPLICATE
    if problem.kind in OPERATOR_PROBLEMS or problem.status == 402:
        # Out of pay-per-use credits, an app not enrolled in a project, an app-only token: Herald's own setup is
        # wrong and an operator must fix it; the post waits for that instead of failing.
        return ErrorClass.CONFIGURATION
    if "not permitted to perform this action" in problem.text:
        # Missing scope (or a read-only app): the account must be reconnected with tweet.write.
        return ErrorClass.RECONNECT
    # user-suspended, "Your Tweet text is too long.", the cashtag limit, invalid-request: the content or the
    # account must change.
    return ErrorClass.PERMANENT


def _rate_limit_reset(problem: Problem, headers: httpx.Headers, now: dt.datetime) -> dt.datetime | None:
    """When to retry after a 429: the 15-minute reset, a 24-hour reset when that budget is spent, or the end of
    the usage-cap period.

    A usage-capped 429 still carries the ``x-rate-limit-*`` headers of the 15-minute window, which say nothing
    about the cap: waiting for them would call X again every 15 minutes for the rest of the month.
    """
    if problem.kind == "usage-capped":
        return _usage_period_end(str(problem.body.get("period") or ""), now)
    candidates = [epoch_seconds(headers.get("x-rate-limit-reset"))]
    for prefix in DAILY_HEADER_PREFIXES:
        if headers.get(f"{prefix}-remaining", "").strip() == "0":
            candidates.append(epoch_seconds(headers.get(f"{prefix}-reset")))
    candidates.append(retry_after(headers.get("retry-after"), now))
    known = [c for c in candidates if c is not None]
    return max(known) if known else None


def is_app_wide(problem: Problem) -> bool:
    """A usage cap of ``scope: Product`` binds the whole app (every account), ``Account`` only this one."""
    return problem.kind == "usage-capped" and str(problem.body.get("scope") or "").lower() == "product"


def _usage_period_end(period: str, now: dt.datetime) -> dt.datetime:
    """Start of the next UTC day or month.

    X does not say when a cap resets (docs/platforms.md, "X: usage caps"): the start of the next UTC day or month
    is the earliest it can, so the hold never outlasts the cap; an operator can lift it sooner.
    """
    day = now.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if period.lower() == "daily":
        return day + dt.timedelta(days=1)
    month = day.replace(day=1)
    return month.replace(year=month.year + 1, month=1) if month.month == 12 else month.replace(month=month.month + 1)


def transport_error(error: httpx.HTTPError, call: Call) -> PlatformError:
    """Classify a failure with no HTTP answer. Only a create that may have reached X is an unknown outcome."""
    never_sent = isinstance(error, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
    unknown = call is Call.CREATE and not never_sent
    return PlatformError(
        ErrorClass.UNKNOWN_OUTCOME if unknown else ErrorClass.RETRY_LATER,
        f"X API request failed without a response ({type(error).__name__})",
        platform_code=type(error).__name__,
    )


def exchange_error(response: httpx.Response, *, secrets: Iterable[str] = ()) -> PlatformError:
    """Classify a failed code exchange at ``POST /2/oauth2/token``.

    A refused code or PKCE verifier (400) means the user must go through consent again (permanent); refused client
    credentials (401) are Herald's configuration (an operator's error). Throttling and outages are worth retrying
    (the code lives 30 seconds).
    """
    problem = parse_problem(response)
    error, description = http.oauth_error(response)
    failure = http.token_failure(response.status_code, error, description)
    return PlatformError(
        _EXCHANGE_CLASSES[failure],
        http.redact(
            f"X token endpoint {response.status_code} ({problem.code}): {problem.detail or problem.title}", secrets
        ),
        http_status=response.status_code,
        platform_code=problem.code,
        response_excerpt=excerpt(response, secrets),
    )


_EXCHANGE_CLASSES = {
    http.TokenFailure.TRANSIENT: ErrorClass.RETRY_LATER,
    http.TokenFailure.CONFIGURATION: ErrorClass.CONFIGURATION,
    http.TokenFailure.REJECTED: ErrorClass.PERMANENT,
}


def refresh_error(response: httpx.Response, *, secrets: Iterable[str] = ()) -> RefreshError:
    """Classify a failed refresh at ``POST /2/oauth2/token``.

    A dead, reused or revoked refresh token is ``400 invalid_request "Value passed for the token was invalid."``
    on X (not ``invalid_grant``; both are treated alike). With rotating refresh tokens that can also mean another
    worker refreshed first: the caller should reload the stored pair before asking a human to reconnect.
    """
    error, description = http.oauth_error(response)
    message = http.redact(f"X token endpoint {response.status_code}: {error or 'error'} {description}".strip(), secrets)
    failure = http.token_failure(response.status_code, error, description)
    # The client credentials refused (401 unauthorized_client) is a configuration problem, not the token's.
    return RefreshError(
        message,
        permanent=failure is http.TokenFailure.REJECTED,
        configuration=failure is http.TokenFailure.CONFIGURATION,
        http_status=response.status_code,
    )


def excerpt(response: httpx.Response, secrets: Iterable[str] = ()) -> str:
    return http.excerpt(response, secrets, EXCERPT_LENGTH)
