"""The LinkedIn classifier against every LinkedIn error in docs/platforms.md ("LinkedIn: errors", "LinkedIn: rate
limits", "LinkedIn: versions", "Operator errors").

Bodies and headers are the documented or observed ones, verbatim.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest

from herald.platforms.base import ErrorClass
from herald.platforms.linkedin.errors import classify_response, classify_transport
from herald.platforms.linkedin.tokens import refresh_error

NOW = dt.datetime(2026, 11, 28, 15, 30, 0, tzinfo=dt.UTC)
NEXT_MIDNIGHT = dt.datetime(2026, 11, 29, tzinfo=dt.UTC)
POSTS_URL = "https://api.linkedin.com/rest/posts"

EMPTY_TOKEN = {"message": "Empty oauth2_access_token", "serviceErrorCode": 401, "status": 401}
INVALID_TOKEN = {
    "status": 401,
    "serviceErrorCode": 65600,
    "code": "INVALID_ACCESS_TOKEN",
    "message": "Invalid access token",
}
EXPIRED_TOKEN = {
    "status": 401,
    "serviceErrorCode": 65602,
    "code": "EXPIRED_ACCESS_TOKEN",
    "message": "The token used in the request has expired",
}
EXPIRED_TOKEN_65600 = {**EXPIRED_TOKEN, "serviceErrorCode": 65600}  # the one observation with 65600
REVOKED_TOKEN = {
    "status": 401,
    "serviceErrorCode": 65601,
    "code": "REVOKED_ACCESS_TOKEN",
    "message": "The token used in the request has been revoked by the user",
}
ACCESS_DENIED = {
    "status": 403,
    "serviceErrorCode": 100,
    "code": "ACCESS_DENIED",
    "message": "Not enough permissions to access: partnerApiPostsExternal.CREATE.20250101",
}
ME_DENIED = {
    "status": 403,
    "serviceErrorCode": 100,
    "code": "ACCESS_DENIED",
    "message": "Not enough permissions to access: me.GET.NO_VERSION",
}
VERSION_MISSING = {
    "status": 400,
    "code": "VERSION_MISSING",
    "message": "A version must be present. Please specify a version by adding the LinkedIn-Version header.",
}
NONEXISTENT_VERSION = {
    "status": 426,
    "code": "NONEXISTENT_VERSION",
    "message": "Requested version 20240101 is not active",
}
REQUIRED_FIELDS = {
    "message": "ERROR :: /author :: field is required but not found and has no default value\n"
    "ERROR :: /commentary :: field is required but not found and has no default value\n",
    "status": 422,
}
UNKNOWN_FIELD = {"message": "ERROR :: /colour :: unrecognized field found but not allowed\n", "status": 422}
MALFORMED_JSON = {
    "status": 400,
    "code": "ILLEGAL_ARGUMENT",
    "message": "Request body could not be converted to data map",
}
DUPLICATE = {
    "errorDetailType": "com.linkedin.common.error.BadRequest",
    "message": "com.linkedin.content.common.exception.BadRequestResponseException: "
    "Content is a duplicate of urn:li:share:7141138937766391808",
    "errorDetails": {
        "inputErrors": [{"description": "Duplicate post is detected", "input": {}, "code": "DUPLICATE_POST"}]
    },
    "status": 422,
}
THROTTLED = {
    "status": 429,
    "serviceErrorCode": 101,
    "code": "TOO_MANY_REQUESTS",
    "message": "Resource level throttle limit for calls to this resource is reached.",
}
INFRASTRUCTURE_429 = {"status": 429, "message": "Too Many Requests"}
SERVER_ERROR = {"status": 500, "code": "INTERNAL_SERVER_ERROR", "message": "Internal Server Error"}
UNAVAILABLE = {"status": 503, "message": "Service Unavailable"}
GATEWAY_TIMEOUT = {"status": 504, "message": "Gateway Timeout"}
UNABLE_TO_OBTAIN = {"status": 400, "message": "Unable to obtain activity urn:li:activity:123"}
RESOURCE_FORBIDDEN = {"status": 403, "message": "The resource is forbidden for now"}

C = ErrorClass.CONFIGURATION
P, D, RT, RC, RU, R = (
    ErrorClass.PERMANENT,
    ErrorClass.DUPLICATE,
    ErrorClass.REFRESH_TOKEN,
    ErrorClass.RECONNECT,
    ErrorClass.UNKNOWN_OUTCOME,
    ErrorClass.RETRY_LATER,
)

# (status, body, headers, class on a create, class on a read, platform_code)
TABLE = [
    pytest.param(401, EMPTY_TOKEN, {}, P, P, "401", id="no-token"),
    pytest.param(401, INVALID_TOKEN, {}, RT, RT, "INVALID_ACCESS_TOKEN", id="invalid-token-65600"),
    pytest.param(401, EXPIRED_TOKEN, {}, RT, RT, "EXPIRED_ACCESS_TOKEN", id="expired-token-65602"),
    pytest.param(401, EXPIRED_TOKEN_65600, {}, RT, RT, "EXPIRED_ACCESS_TOKEN", id="expired-token-65600"),
    pytest.param(401, REVOKED_TOKEN, {}, RC, RC, "REVOKED_ACCESS_TOKEN", id="revoked-token-65601"),
    pytest.param(403, ACCESS_DENIED, {}, P, P, "ACCESS_DENIED", id="access-denied"),
    pytest.param(403, ME_DENIED, {}, P, P, "ACCESS_DENIED", id="access-denied-v2-me"),
    pytest.param(
        400, VERSION_MISSING, {"X-Restli-Gateway-Error": "true"}, C, C, "VERSION_MISSING", id="version-missing"
    ),
    # The version is Herald's own setting: an operator error, held until fixed (not a failed post).
    pytest.param(426, NONEXISTENT_VERSION, {}, C, C, "NONEXISTENT_VERSION", id="version-sunset"),
    pytest.param(422, REQUIRED_FIELDS, {}, P, P, None, id="validation-required-fields"),
    pytest.param(422, UNKNOWN_FIELD, {}, P, P, None, id="validation-unknown-field"),
    pytest.param(400, MALFORMED_JSON, {}, P, P, "ILLEGAL_ARGUMENT", id="malformed-json"),
    pytest.param(422, DUPLICATE, {}, D, D, "DUPLICATE_POST", id="duplicate"),
    pytest.param(429, THROTTLED, {}, R, R, "TOO_MANY_REQUESTS", id="rate-limit-daily"),
    pytest.param(429, INFRASTRUCTURE_429, {}, R, R, None, id="rate-limit-infrastructure"),
    pytest.param(500, SERVER_ERROR, {}, RU, R, "INTERNAL_SERVER_ERROR", id="500"),
    pytest.param(503, UNAVAILABLE, {}, RU, R, None, id="503"),
    pytest.param(504, GATEWAY_TIMEOUT, {}, RU, R, None, id="504"),
    pytest.param(400, UNABLE_TO_OBTAIN, {}, RU, R, None, id="transient-unable-to-obtain-activity"),
    pytest.param(403, RESOURCE_FORBIDDEN, {}, RU, R, None, id="transient-resource-is-forbidden"),
]


def response(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers or {}, request=httpx.Request("POST", POSTS_URL))


@pytest.mark.parametrize(("status", "body", "headers", "on_create", "on_read", "code"), TABLE)
def test_classification_table(
    status: int,
    body: dict[str, Any],
    headers: dict[str, str],
    on_create: ErrorClass,
    on_read: ErrorClass,
    code: str | None,
) -> None:
    created = classify_response(response(status, body, headers), creating=True, now=NOW)
    read = classify_response(response(status, body, headers), creating=False, now=NOW)
    assert (created.error_class, read.error_class) == (on_create, on_read)
    assert created.http_status == status
    assert created.platform_code == code
    assert created.response_excerpt
    assert str(status) in created.message


def test_duplicate_names_the_existing_post() -> None:
    error = classify_response(response(422, DUPLICATE), creating=True, now=NOW)
    assert error.existing_post_id == "urn:li:share:7141138937766391808"


def test_duplicate_of_a_ugc_post_is_recognised() -> None:
    body = {**DUPLICATE, "message": "Content is a duplicate of urn:li:ugcPost:68447855235931240"}
    error = classify_response(response(422, body), creating=True, now=NOW)
    assert error.existing_post_id == "urn:li:ugcPost:68447855235931240"


def test_only_duplicates_carry_an_existing_post_id() -> None:
    error = classify_response(response(422, REQUIRED_FIELDS), creating=True, now=NOW)
    assert error.existing_post_id is None


def test_the_daily_quota_429_retries_after_midnight_utc() -> None:
    # No rate-limit headers and no Retry-After on LinkedIn (docs/platforms.md, "LinkedIn: rate limits"); daily
    # limits reset at midnight UTC.
    error = classify_response(response(429, THROTTLED), creating=True, now=NOW)
    assert error.retry_at == NEXT_MIDNIGHT


def test_an_infrastructure_429_has_no_hint() -> None:
    assert classify_response(response(429, INFRASTRUCTURE_429), creating=True, now=NOW).retry_at is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [("120", NOW + dt.timedelta(seconds=120)), ("Sat, 28 Nov 2026 15:37:00 GMT", NOW + dt.timedelta(minutes=7))],
)
def test_retry_after_wins_when_present(value: str, expected: dt.datetime) -> None:
    error = classify_response(response(429, THROTTLED, {"Retry-After": value}), creating=True, now=NOW)
    assert error.retry_at == expected


def test_non_429_errors_have_no_retry_time() -> None:
    assert classify_response(response(503, UNAVAILABLE, {"Retry-After": "5"}), creating=False, now=NOW).retry_at is None


def test_the_token_never_appears_in_message_or_excerpt() -> None:
    token = "AQX-secret-token-value"
    body = {"status": 401, "code": "INVALID_ACCESS_TOKEN", "message": f"Invalid access token {token}"}
    error = classify_response(response(401, body), creating=True, now=NOW, secrets=(token,))
    assert token not in error.message
    assert token not in error.response_excerpt
    assert token not in str(error)


def test_a_non_json_body_is_still_classified_by_status() -> None:
    raw = httpx.Response(502, text="<html>Bad Gateway</html>", request=httpx.Request("POST", POSTS_URL))
    error = classify_response(raw, creating=True, now=NOW)
    assert error.error_class is ErrorClass.UNKNOWN_OUTCOME
    assert "Bad Gateway" in error.response_excerpt


def test_the_excerpt_is_short() -> None:
    body = {"status": 422, "message": "ERROR :: /commentary :: x" * 200}
    assert len(classify_response(response(422, body), creating=True, now=NOW).response_excerpt) <= 300


REQUEST = httpx.Request("POST", POSTS_URL)


@pytest.mark.parametrize(
    ("error", "on_create", "on_read"),
    [
        pytest.param(httpx.ReadTimeout("timed out", request=REQUEST), RU, R, id="read-timeout"),
        pytest.param(httpx.WriteTimeout("timed out", request=REQUEST), RU, R, id="write-timeout"),
        pytest.param(httpx.RemoteProtocolError("peer closed", request=REQUEST), RU, R, id="connection-dropped"),
        pytest.param(httpx.ReadError("connection reset by peer", request=REQUEST), RU, R, id="connection-reset"),
        pytest.param(httpx.WriteError("broken pipe", request=REQUEST), RU, R, id="write-error"),
        pytest.param(httpx.ConnectError("refused", request=REQUEST), R, R, id="connect-refused"),
        pytest.param(httpx.ConnectTimeout("timed out", request=REQUEST), R, R, id="connect-timeout"),
        pytest.param(httpx.PoolTimeout("pool", request=REQUEST), R, R, id="pool-timeout"),
    ],
)
def test_network_failures(error: httpx.TransportError, on_create: ErrorClass, on_read: ErrorClass) -> None:
    assert classify_transport(error, creating=True).error_class is on_create
    assert classify_transport(error, creating=False).error_class is on_read


DEAD_GRANT = {
    "error": "invalid_request",
    "error_description": "The provided authorization grant or refresh token is invalid, expired or revoked",
}
MISSING_SECRET = {"error": "invalid_request", "error_description": 'A required parameter "client_secret" is missing'}


INVALID_CLIENT = {"error": "invalid_client", "error_description": "Client authentication failed"}


@pytest.mark.parametrize(
    ("status", "body", "permanent", "configuration"),
    [
        pytest.param(400, DEAD_GRANT, True, False, id="dead-refresh-token-invalid_request"),
        pytest.param(400, {**DEAD_GRANT, "error": "invalid_grant"}, True, False, id="invalid_grant"),
        # Herald's own client secret is missing: an operator's error, never the member's (issue 14 item 5).
        pytest.param(400, MISSING_SECRET, False, True, id="missing-client-secret"),
        pytest.param(401, INVALID_CLIENT, False, True, id="invalid_client"),
        pytest.param(429, THROTTLED, False, False, id="429"),
        pytest.param(500, {"error": "server_error", "error_description": "oops"}, False, False, id="500"),
        pytest.param(503, UNAVAILABLE, False, False, id="503"),
    ],
)
def test_refresh_failures(status: int, body: dict[str, Any], permanent: bool, configuration: bool) -> None:
    failure = refresh_error(httpx.Response(status, json=body))
    assert failure.permanent is permanent
    assert failure.configuration is configuration
    assert failure.http_status == status
