"""The Graph error classifier against every Meta error in docs/platforms.md ("Meta: errors", "Error classes",
"Operator errors").

Bodies and headers are the documented or observed ones (fbtrace ids included where they are quoted).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from herald.platforms.base import ErrorClass
from herald.platforms.meta.errors import classify_response, classify_transport

NOW = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)
PERMISSION_200 = (
    "(#200) If posting to a group, requires app being installed in the group, and either publish_to_groups "
    "permission with user token, or both pages_read_engagement and pages_manage_posts permission with page token; "
    "If posting to a page, requires both pages_read_engagement and pages_manage_posts as an admin with sufficient "
    "administrative permission"
)
ABUSIVE_368 = "(#368) The action attempted has been deemed abusive or is otherwise disallowed"
C = ErrorClass.CONFIGURATION
R, RU, RC, P, D = (
    ErrorClass.RETRY_LATER,
    ErrorClass.UNKNOWN_OUTCOME,
    ErrorClass.RECONNECT,
    ErrorClass.PERMANENT,
    ErrorClass.DUPLICATE,
)


def graph_error(code: int, message: str, subcode: int | None = None, **extra: Any) -> dict[str, Any]:
    error: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code}
    if subcode is not None:
        error["error_subcode"] = subcode
    error.update(extra)
    error.setdefault("fbtrace_id", "EJplcsCHuLu")
    return {"error": error}


@dataclass(frozen=True)
class Case:
    id: str
    status: int
    body: dict[str, Any] | str
    on_create: ErrorClass
    on_read: ErrorClass
    headers: dict[str, str] = field(default_factory=dict)
    platform_code: str | None = None
    retry_in: dt.timedelta | None = None


def same(case_id: str, status: int, body: dict[str, Any] | str, cls: ErrorClass, **kw: Any) -> Case:
    return Case(case_id, status, body, cls, cls, **kw)


BUC_15 = {
    "x-business-use-case-usage": json.dumps(
        {
            "100000000000001": [
                {
                    "type": "pages",
                    "call_count": 100,
                    "total_cputime": 100,
                    "total_time": 100,
                    "estimated_time_to_regain_access": 15,
                }
            ]
        }
    )
}
APP_USAGE = {"x-app-usage": '{"call_count":28,"total_time":25,"total_cputime":25}'}
WWW_4 = {"www-authenticate": 'OAuth "Facebook Platform" "invalid_request" "(#4) Application request limit reached"'}

CASES = [
    # Token rows: 190 in every form, and 102 -> reconnect (Meta has no refresh grant), with 400 or 401.
    same(
        "190", 400, graph_error(190, "Invalid OAuth access token - Cannot parse access token"), RC, platform_code="190"
    ),
    same("190-http-401", 401, graph_error(190, "Invalid OAuth access token - Cannot parse access token"), RC),
    same(
        "190/463-expired",
        400,
        graph_error(
            190,
            "Error validating access token: Session has expired on Saturday, 24-Mar-18 05:00:00 PDT. "
            "The current time is Saturday, 24-Mar-18 05:20:17 PDT.",
            463,
        ),
        RC,
        platform_code="190/463",
    ),
    same(
        "190/467-logged-out",
        400,
        graph_error(190, "Error validating access token: The session is invalid because the user logged out.", 467),
        RC,
        platform_code="190/467",
    ),
    same(
        "190/460-password",
        400,
        graph_error(
            190,
            "Error validating access token: The session has been invalidated because the user changed their password "
            "or Facebook has changed the session for security reasons.",
            460,
        ),
        RC,
        platform_code="190/460",
    ),
    same("190/458-deauthorized", 400, graph_error(190, "The user has not authorized application 1234567890", 458), RC),
    same("190/459-checkpoint", 400, graph_error(190, "Error validating access token", 459), RC),
    same("190/464-unconfirmed", 400, graph_error(190, "Error validating access token", 464), RC),
    same("102-session", 400, graph_error(102, "Invalid OAuth access token - Cannot parse access token"), RC),
    # Permissions: 10 and 200..299 (HTTP 403) -> permanent.
    same("200-user-token", 403, graph_error(200, PERMISSION_200), P, platform_code="200"),
    same("10-permission", 403, graph_error(10, "(#10) Application does not have permission for this action"), P),
    same("299-permission", 403, graph_error(299, "(#299) Permission denied"), P),
    same(
        "3-capability", 400, graph_error(3, "(#3) Application does not have the capability to make this API call."), P
    ),
    same(
        "100-invalid-parameter",
        400,
        {
            "error": {
                "message": "(#100) Unsupported get request.",
                "type": "GraphMethodException",
                "code": 100,
                "fbtrace_id": "EJplcsCHuLu",
            }
        },
        P,
    ),
    # Code 1 / 2: transient; a create may have happened.
    Case("1-unknown", 500, graph_error(1, "An unknown error occurred", is_transient=True), RU, R),
    Case(
        "2-service",
        500,
        graph_error(2, "An unexpected error has occurred. Please retry your request later.", is_transient=True),
        RU,
        R,
        platform_code="2",
    ),
    Case("1-http-400", 400, graph_error(1, "An unknown error occurred"), RU, R),
    # Throttles: the request was refused, so even a create is "retry later".
    same("4-app", 400, graph_error(4, "(#4) Application request limit reached"), R, headers={**WWW_4, **APP_USAGE}),
    same("4-http-403", 403, graph_error(4, "(#4) Application request limit reached"), R),
    same("17-user", 400, graph_error(17, "(#17) User request limit reached"), R),
    same(
        "17/2446079-transient",
        400,
        graph_error(17, "(#17) User request limit reached", 2446079, is_transient=True),
        R,
        platform_code="17/2446079",
    ),
    same(
        "32-doc-sample",
        400,
        {
            "error": {
                "message": "(#32) Page request limit reached",
                "type": "OAuthException",
                "code": 32,
                "fbtrace_id": "Fz54k3GZrio",
            }
        },
        R,
    ),
    same("613-custom", 400, graph_error(613, "(#613) Calls to this api have exceeded the rate limit."), R),
    same(
        "80001-buc",
        400,
        graph_error(80001, "(#80001) There have been too many calls to this Page account. Wait a bit and try again."),
        R,
        headers=BUC_15,
        retry_in=dt.timedelta(minutes=15),
        platform_code="80001",
    ),
    same(
        "80001-http-429",
        429,
        graph_error(80001, "(#80001) There have been too many calls to this Page account. Wait a bit and try again."),
        R,
        headers=BUC_15,
        retry_in=dt.timedelta(minutes=15),
    ),
    same(
        "4-with-buc-hint",
        400,
        graph_error(4, "(#4) Application request limit reached"),
        R,
        headers=BUC_15,
        retry_in=dt.timedelta(minutes=15),
    ),
    same(
        "341-feed-quota",
        400,
        graph_error(341, "(#341) Feed action request limit reached"),
        R,
        retry_in=dt.timedelta(hours=1),
    ),
    same("368-policy", 400, graph_error(368, ABUSIVE_368), P),
    same("506-duplicate", 400, graph_error(506, "(#506) Duplicate status message"), D, platform_code="506"),
    same("1609005-link", 400, graph_error(1609005, "Error Posting Link"), P),
    # Postiz-mapped subcodes (docs/platforms.md, "Meta: errors"), "as labelled".
    same("1366046-photo-size", 400, graph_error(100, "Invalid photo", 1366046), P),
    same("368/1390008-too-fast", 400, graph_error(368, ABUSIVE_368, 1390008), R),
    same("1346003-abusive", 400, graph_error(368, ABUSIVE_368, 1346003), P),
    same("1404006-security-check", 400, graph_error(368, "Security check required", 1404006), RC),
    same("1404102-community-standards", 400, graph_error(368, ABUSIVE_368, 1404102), P),
    same("1404078-publishing-authorization", 400, graph_error(200, "Publishing authorization required", 1404078), RC),
    same("1366051-already-posted", 400, graph_error(100, "These photos were already posted", 1366051), D),
    same("1609008-facebook-link", 400, graph_error(100, "Cannot post facebook.com links", 1609008), P),
    same("2061006-invalid-url", 400, graph_error(100, "Invalid URL", 2061006), P),
    same("1349125-invalid-content", 400, graph_error(100, "Invalid content", 1349125), P),
    same("1404112-limited-access", 400, graph_error(368, "Limited access", 1404112), P),
    Case("1363047-unavailable", 400, graph_error(1, "Service unavailable", 1363047), RU, R),
    Case("1609010-unavailable", 400, graph_error(100, "Service unavailable", 1609010), RU, R),
    same("4854002-confirm-identity", 400, graph_error(368, "Confirm your identity", 4854002), RC),
    # "Error classes": 5xx on create is an unknown outcome whatever it says; on a read it is retryable. Non-JSON
    # bodies too.
    Case("503-no-json", 503, "<html><body>Service Unavailable</body></html>", RU, R),
    Case("502-empty", 502, "", RU, R),
    Case("500-with-4xx-code", 500, graph_error(100, "(#100) odd"), RU, P),
    # Unknown codes fall back on the HTTP status.
    Case("unknown-code-500", 500, graph_error(987654, "Something"), RU, R),
    same("unknown-code-400", 400, graph_error(987654, "Something"), P),
    Case("unknown-transient", 400, graph_error(987654, "Something", is_transient=True), RU, R),
    same("429-no-body", 429, "", R),
    # OAuth-style refusals (docs/platforms.md "Dead refresh tokens": invalid_request as often as invalid_grant).
    same("oauth-invalid-request", 400, {"error": "invalid_request", "error_description": "token invalid"}, RC),
    same("oauth-invalid-grant-401", 401, {"error": "invalid_grant"}, RC),
    same("oauth-other", 400, {"error": "invalid_scope"}, P),
    same("401-no-body", 401, "", RC),
    # Operator errors (issue 14 item 5): Herald's app id, app secret, proof or redirect URI refused.
    same("app-secret-refused", 400, graph_error(1, "Error validating client secret."), C),
    same("app-id-refused", 400, graph_error(101, "Error validating application. Invalid application ID."), C),
    same("redirect-uri-not-owned", 400, graph_error(191, "The redirect_uri URL must be absolute"), C),
    same("appsecret-proof-refused", 400, graph_error(100, "Invalid appsecret_proof provided in the API argument"), C),
    same("oauth-invalid-client", 401, {"error": "invalid_client", "error_description": "bad client"}, C),
    same("oauth-missing-secret", 400, {"error": "invalid_request", "error_description": "client_secret missing"}, C),
]


def response(case: Case) -> httpx.Response:
    content = case.body if isinstance(case.body, str) else json.dumps(case.body)
    return httpx.Response(
        case.status,
        content=content.encode(),
        headers={"content-type": "application/json; charset=UTF-8", **case.headers},
        request=httpx.Request("POST", "https://graph.facebook.com/v25.0/100000000000001/feed"),
    )


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_create_classification(case: Case) -> None:
    error = classify_response(response(case), create=True, now=NOW)
    assert error.error_class is case.on_create
    assert error.http_status == case.status


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_read_classification(case: Case) -> None:
    error = classify_response(response(case), create=False, now=NOW)
    assert error.error_class is case.on_read


@pytest.mark.parametrize("case", [c for c in CASES if c.on_read is R], ids=lambda c: c.id)
def test_retry_at_comes_from_the_reset_hint(case: Case) -> None:
    error = classify_response(response(case), create=False, now=NOW)
    assert error.retry_at == (NOW + case.retry_in if case.retry_in else None)


@pytest.mark.parametrize("case", [c for c in CASES if c.platform_code], ids=lambda c: c.id)
def test_platform_code_is_code_and_subcode(case: Case) -> None:
    assert classify_response(response(case), create=True, now=NOW).platform_code == case.platform_code


def test_duplicate_has_no_existing_post_id() -> None:
    case = next(c for c in CASES if c.id == "506-duplicate")
    error = classify_response(response(case), create=True, now=NOW)
    assert error.existing_post_id is None
    assert "(#506) Duplicate status message" in error.message


def test_excerpt_is_short_and_message_names_the_code() -> None:
    case = next(c for c in CASES if c.id == "200-user-token")
    error = classify_response(response(case), create=True, now=NOW)
    assert error.response_excerpt.startswith('{"error"')
    assert len(error.response_excerpt) <= 500
    assert "code 200" in error.message
    assert len(error.message) <= 300


def test_an_echoed_token_is_redacted_everywhere() -> None:
    token = "EAAHsecretTOKENvalue123"
    body = graph_error(190, f"Malformed access token {token}")
    resp = httpx.Response(400, json=body, request=httpx.Request("GET", "https://graph.facebook.com/v25.0/me"))
    error = classify_response(resp, create=False, secrets=[token], now=NOW)
    assert token not in str(error) + error.message + error.response_excerpt
    assert "[redacted]" in error.response_excerpt


def test_buc_hint_takes_the_longest_wait_over_all_objects() -> None:
    headers = {
        "x-business-use-case-usage": json.dumps(
            {
                "1": [{"type": "pages", "call_count": 100, "estimated_time_to_regain_access": 3}],
                "2": [{"type": "pages", "call_count": 100, "estimated_time_to_regain_access": 42}],
            }
        )
    }
    case = Case("x", 400, graph_error(80001, "(#80001) limited"), R, R, headers=headers)
    assert classify_response(response(case), create=True, now=NOW).retry_at == NOW + dt.timedelta(minutes=42)


def test_retry_after_header_is_honoured_without_a_buc_hint() -> None:
    case = Case("x", 429, "", R, R, headers={"retry-after": "120"})
    assert classify_response(response(case), create=False, now=NOW).retry_at == NOW + dt.timedelta(seconds=120)


_request = httpx.Request("POST", "https://graph.facebook.com/v25.0/1/feed?access_token=EAAHsecret")


@pytest.mark.parametrize(
    ("exc", "on_create"),
    [
        (httpx.ReadTimeout("timed out", request=_request), RU),
        (httpx.WriteTimeout("timed out", request=_request), RU),
        (httpx.ReadError("connection reset", request=_request), RU),
        (httpx.RemoteProtocolError("peer closed connection", request=_request), RU),
        (httpx.ConnectError("refused", request=_request), R),
        (httpx.ConnectTimeout("timed out", request=_request), R),
        (httpx.PoolTimeout("pool", request=_request), R),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Exception) else str(v),
)
def test_transport_failures(exc: httpx.TransportError, on_create: ErrorClass) -> None:
    """A network error or timeout on create: unknown outcome once the request may have been sent, else retry."""
    assert classify_transport(exc, create=True).error_class is on_create
    read = classify_transport(exc, create=False)
    assert read.error_class is R
    assert "EAAHsecret" not in str(read)
