"""Classification of Graph API failures into :class:`~herald.platforms.base.ErrorClass`.

Graph errors are ``{"error": {"message", "type", "code", "error_subcode", "is_transient", "fbtrace_id"}}``
(docs/platforms.md, "Meta: errors"). ``type`` is ``OAuthException`` even for throttling and the HTTP status is
mostly 400 (code 190 is seen with 400 and 401), so the decision is made on ``code`` / ``error_subcode`` first,
then on the status.

Order of the decision:

1. a create answered with a 5xx is ``UNKNOWN_OUTCOME`` whatever the body says (the post may exist);
2. answers blaming Herald's app configuration (``CONFIGURATION``: app id, app secret, redirect URI);
3. a failed download of Herald's media URL (``RETRY_LATER``: nothing was created);
4. the subcode table (Postiz-mapped subcodes), then the code table (docs/platforms.md, "Meta: errors");
5. ``is_transient: true`` on an otherwise unknown code;
6. the HTTP status (5xx/429 transient, 401 reconnect, other 4xx permanent).

"Transient" means ``RETRY_LATER`` for a read and ``UNKNOWN_OUTCOME`` for a create: code 1 ("An unknown error
occurred") and 2 ("Please retry your request later") do not say whether the post was made.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import httpx

from herald.contracts.media import MediaReference
from herald.platforms import http
from herald.platforms.base import ErrorClass, MediaContext, PlatformError
from herald.platforms.hints import retry_after

_TRANSIENT: Final = "transient"  # resolved to RETRY_LATER or UNKNOWN_OUTCOME by whether the call was a create
_Decision = ErrorClass | str

RATE_LIMIT_CODES: Final = frozenset({4, 17, 32, 613, 80001})
# 341 "Feed action request limit reached" is a quota: there is no hint, so wait long before retrying.
FEED_LIMIT_CODE: Final = 341
FEED_LIMIT_BACKOFF: Final = dt.timedelta(hours=1)

_CODE_CLASSES: Final[Mapping[int, _Decision]] = {
    190: ErrorClass.RECONNECT,  # invalid/expired/revoked token, every subcode (458/459/460/463/464/467): no refresh
    102: ErrorClass.RECONNECT,  # API session, "as 190"
    10: ErrorClass.PERMANENT,  # permission denied: retrying the same call cannot succeed
    3: ErrorClass.PERMANENT,  # API method capability
    100: ErrorClass.PERMANENT,  # invalid parameter / unknown object
    368: ErrorClass.PERMANENT,  # blocked for policy violation ("permanent-ish (human)")
    506: ErrorClass.DUPLICATE,  # "(#506) Duplicate status message", no existing id given
    1609005: ErrorClass.PERMANENT,  # error posting link (Facebook could not scrape it)
    1: _TRANSIENT,
    2: _TRANSIENT,
    **dict.fromkeys(RATE_LIMIT_CODES, ErrorClass.RETRY_LATER),
    FEED_LIMIT_CODE: ErrorClass.RETRY_LATER,
}

# Subcodes Postiz maps in facebook.provider.ts handleErrors (docs/platforms.md, "Meta: errors"), classed "as labelled".
_SUBCODE_CLASSES: Final[Mapping[int, _Decision]] = {
    1366046: ErrorClass.PERMANENT,  # photo size
    1390008: ErrorClass.RETRY_LATER,  # posting too fast (subcode of 368; Meta calls it temporary)
    1346003: ErrorClass.PERMANENT,  # flagged abusive
    1404006: ErrorClass.RECONNECT,  # security check: a human must act on the account
    1404102: ErrorClass.PERMANENT,  # community standards
    1404078: ErrorClass.RECONNECT,  # page publishing authorization required (Postiz "refresh"; Meta has no refresh)
    1366051: ErrorClass.DUPLICATE,  # already posted photos
    1609008: ErrorClass.PERMANENT,  # cannot post facebook.com links
    2061006: ErrorClass.PERMANENT,  # invalid URL
    1349125: ErrorClass.PERMANENT,  # invalid content
    1404112: ErrorClass.PERMANENT,  # account has limited access for a few days
    1363047: _TRANSIENT,  # service unavailable
    1609010: _TRANSIENT,  # service unavailable
    4854002: ErrorClass.RECONNECT,  # confirm identity before publishing as this Page
    # Instagram content publishing (docs/platforms.md, "Instagram: errors").
    2207042: ErrorClass.RETRY_LATER,  # code 9: the 24-hour publishing limit is reached
    2207027: ErrorClass.RETRY_LATER,  # code 9007: the container is not ready to publish yet
    2207020: ErrorClass.RETRY_LATER,  # code -2: the container expired; a new one is created
    2207001: _TRANSIENT,  # code -1: Instagram server error
    2207032: _TRANSIENT,  # code -1: create media failed, re-create
    # Instagram could not download Herald's presigned URL (our object store was away): nothing was created, and
    # a new container made later fetches it again. A URL that stays bad ends as attempts_exhausted.
    2207003: ErrorClass.RETRY_LATER,  # code -2: downloading the media took too long
    2207052: ErrorClass.RETRY_LATER,  # code 9004: the media could not be fetched from the URI
}
# The publishing limit frees as the oldest post of the window ages out; without a better hint, wait this long.
PUBLISHING_LIMIT_SUBCODE: Final = 2207042
PUBLISHING_LIMIT_BACKOFF: Final = dt.timedelta(hours=1)


# OAuth-style token endpoint refusals (RFC 6749 form, sent by proxies/other IdPs; Meta itself answers code 190):
# the token is dead, a human must reconnect. Dead tokens are often invalid_request, not invalid_grant
# (docs/platforms.md, "Dead refresh tokens").
OAUTH_DEAD_TOKEN_ERRORS: Final = frozenset({"invalid_grant", "invalid_request"})

# Graph answers that blame Herald's app, not the user or the post (docs/platforms.md, "Operator errors"):
# 101 "Error validating application. Invalid application ID.", 191 "The redirect_uri is not owned by the
# application", and the code-1 / code-100 answers whose message names the app secret, its proof or the redirect URI.
CONFIGURATION_CODES: Final = frozenset({101, 191})
_CONFIGURATION_MESSAGES: Final = ("client secret", "appsecret_proof", "redirect_uri")


@dataclass(frozen=True)
class GraphError:
    """The ``error`` object of a Graph response."""

    message: str
    code: int | None = None
    subcode: int | None = None
    type: str | None = None
    is_transient: bool = False

    @classmethod
    def parse(cls, body: Any) -> GraphError | None:
        """The Graph ``error`` object, or an OAuth-style ``{"error": "invalid_grant", ...}`` as a code-less error."""
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, str) and error:
            description = body.get("error_description")
            return cls(message=f"{error}: {description}" if isinstance(description, str) else error, type=error)
        if not isinstance(error, dict):
            return None
        return cls(
            message=str(error.get("message", "")),
            code=_as_int(error.get("code")),
            subcode=_as_int(error.get("error_subcode")),
            type=error.get("type") if isinstance(error.get("type"), str) else None,
            is_transient=error.get("is_transient") is True,
        )

    @property
    def platform_code(self) -> str | None:
        if self.code is None:
            return None
        return str(self.code) if self.subcode is None else f"{self.code}/{self.subcode}"


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


response_json = http.json_body  # the decoded body, or None when it is not JSON (a proxy's HTML page, a cut body)


redact = http.redact  # Graph echoes malformed tokens back: every message and excerpt goes through it


def is_configuration_error(error: GraphError) -> bool:
    """Herald's app id, app secret (or its proof) or redirect URI was refused: an operator must fix it."""
    if error.code is None:
        return http.names_configuration(error.type or "", error.message)
    if error.code in CONFIGURATION_CODES:
        return True
    message = error.message.lower()
    return error.code in (1, 100) and any(part in message for part in _CONFIGURATION_MESSAGES)


# Graph's answer when Facebook could not fetch the ``url`` / ``file_url`` it was given (docs/platforms.md, "Meta:
# errors"). Herald only ever passes presigned URLs of its own store, which are well formed, so this means the
# download failed (the store was briefly away): the photo or video was certainly not created, so retry later.
_FETCH_FAILED_MESSAGES: Final = ("url should represent a valid url",)
DOWNLOAD_FAILED_SUBCODES: Final = frozenset({2207003, 2207052})


def is_fetch_failure(error: GraphError) -> bool:
    """Facebook or Instagram could not download the media URL Herald gave it (not a content error)."""
    if error.subcode in DOWNLOAD_FAILED_SUBCODES:
        return True
    message = error.message.lower()
    return error.code == 100 and any(part in message for part in _FETCH_FAILED_MESSAGES)


def is_download_failure(error: PlatformError) -> bool:
    """The failed call (already classified) says Meta could not download Herald's media URL."""
    if error.platform_code == "container_download_failed":
        return True
    code, _, subcode = (error.platform_code or "").partition("/")
    if subcode.isdigit() and int(subcode) in DOWNLOAD_FAILED_SUBCODES:
        return True
    return code == "100" and any(part in error.message.lower() for part in _FETCH_FAILED_MESSAGES)


async def check_store_on_download_failure(
    error: PlatformError, media: MediaContext, items: Iterable[MediaReference]
) -> None:
    """When Meta could not download our URL, read the first bytes of each item ourselves. If Herald's store is
    away, its own error propagates: the pipeline treats that as a dependency outage and redelivers without using up
    an attempt (as for X and LinkedIn, which read the store themselves). If the store answers, the URL failed for
    Meta only, and ``error`` (``RETRY_LATER``) stands: a URL that stays bad ends as attempts_exhausted."""
    if not is_download_failure(error):
        return
    for item in items:
        async for _ in media.source.stream(item, chunk_bytes=64 * 1024):
            break


def _decide(error: GraphError | None, status: int, *, create: bool) -> ErrorClass:
    decision = _table_decision(error, status, create=create)
    if decision == _TRANSIENT:
        return ErrorClass.UNKNOWN_OUTCOME if create else ErrorClass.RETRY_LATER
    return ErrorClass(decision)


def _table_decision(error: GraphError | None, status: int, *, create: bool) -> _Decision:
    if create and status >= 500:
        return _TRANSIENT
    if error is not None:
        if is_configuration_error(error):
            return ErrorClass.CONFIGURATION
        if error.code is None and error.type in OAUTH_DEAD_TOKEN_ERRORS:
            return ErrorClass.RECONNECT
        if is_fetch_failure(error):
            return ErrorClass.RETRY_LATER  # before the code table: code 100 is otherwise permanent
        if error.subcode is not None and error.subcode in _SUBCODE_CLASSES:
            return _SUBCODE_CLASSES[error.subcode]
        if error.code is not None and error.code in _CODE_CLASSES:
            return _CODE_CLASSES[error.code]
        if error.code is not None and 200 <= error.code <= 299:
            return ErrorClass.PERMANENT  # permission errors (#200..#299), HTTP 403
        if error.is_transient:
            return _TRANSIENT
    return _status_decision(status)


def _status_decision(status: int) -> _Decision:
    if status >= 500:
        return _TRANSIENT
    if status == 429:
        return ErrorClass.RETRY_LATER
    if status == 401:
        return ErrorClass.RECONNECT
    return ErrorClass.PERMANENT


def regain_access_at(headers: httpx.Headers, now: dt.datetime) -> dt.datetime | None:
    """When Meta says access comes back: ``estimated_time_to_regain_access`` (minutes) in the BUC usage header.

    ``X-Business-Use-Case-Usage: {"<object id>": [{"type": "pages", ..., "estimated_time_to_regain_access": 15}]}``
    (docs/platforms.md, "Meta: rate limits"). The largest value over all objects wins. ``Retry-After`` is honoured
    if a proxy adds one.
    """
    minutes = [_regain_minutes(headers.get(name)) for name in ("x-business-use-case-usage", "x-ad-account-usage")]
    longest = max((m for m in minutes if m), default=0)
    if longest > 0:
        return now + dt.timedelta(minutes=longest)
    return retry_after(headers.get("retry-after"), now)


def _regain_minutes(value: str | None) -> int:
    if not value:
        return 0
    try:
        usage = json.loads(value)
    except ValueError:
        return 0
    entries: list[Any] = []
    if isinstance(usage, dict):
        for item in usage.values():
            entries.extend(item if isinstance(item, list) else [item])
    found = [e.get("estimated_time_to_regain_access") for e in entries if isinstance(e, dict)]
    return max((math.ceil(v) for v in found if isinstance(v, int | float) and not isinstance(v, bool)), default=0)


def classify_response(
    response: httpx.Response,
    *,
    create: bool,
    secrets: Iterable[str] = (),
    now: dt.datetime | None = None,
) -> PlatformError:
    """Turn a failed Graph response into a :class:`PlatformError` (never containing one of ``secrets``)."""
    now = now or dt.datetime.now(dt.UTC)
    secrets = tuple(secrets)
    error = GraphError.parse(response_json(response))
    error_class = _decide(error, response.status_code, create=create)
    retry_at = regain_access_at(response.headers, now) if error_class is ErrorClass.RETRY_LATER else None
    if retry_at is None and error is not None and error.code == FEED_LIMIT_CODE:
        retry_at = now + FEED_LIMIT_BACKOFF
    if retry_at is None and error is not None and error.subcode == PUBLISHING_LIMIT_SUBCODE:
        retry_at = now + PUBLISHING_LIMIT_BACKOFF
    detail = error.message if error is not None else response.reason_phrase
    code = f", code {error.platform_code}" if error is not None and error.platform_code else ""
    message = f"Meta {'create' if create else 'call'} failed: HTTP {response.status_code}{code}: {detail}"
    return PlatformError(
        error_class,
        redact(message, secrets)[:300],
        http_status=response.status_code,
        platform_code=error.platform_code if error is not None else None,
        retry_at=retry_at,
        response_excerpt=http.excerpt(response, secrets, 500),  # redacted before it is cut: no half-token leaks
    )


# Transport failures that prove the request never reached Meta: even a create certainly did not happen.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol, httpx.ProxyError)


def classify_transport(exc: httpx.TransportError, *, create: bool) -> PlatformError:
    """A timeout, reset or protocol error. After sending a create, the outcome is unknown."""
    sent = not isinstance(exc, _NOT_SENT)
    error_class = ErrorClass.UNKNOWN_OUTCOME if create and sent else ErrorClass.RETRY_LATER
    stage = "after sending" if sent else "before sending"
    # The exception's own text may hold the URL (and so a token in the query string): only its type is kept.
    return PlatformError(error_class, f"Meta {'create' if create else 'call'} failed {stage}: {type(exc).__name__}")
