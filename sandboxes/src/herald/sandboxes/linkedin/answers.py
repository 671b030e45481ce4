"""LinkedIn's own answers: error bodies and headers as the real API sends them.

https://learn.microsoft.com/en-us/linkedin/marketing/versioning,
https://learn.microsoft.com/en-us/linkedin/shared/authentication/programmatic-refresh-tokens and
https://learn.microsoft.com/en-us/linkedin/shared/api-guide/concepts/rate-limits
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from starlette.responses import JSONResponse, Response

from herald.sandboxes.oauth import TokenProblem

THROTTLE_MESSAGE = "Resource level throttle limit for calls to this resource is reached."
DEAD_GRANT = "The provided authorization grant or refresh token is invalid, expired or revoked"
BAD_CODE = (
    "Unable to retrieve access token: appid/redirect uri/code verifier does not match authorization code. "
    "Or authorization code expired. Or external member binding exists"
)


def service_error(
    status: int, message: str, *, code: str | None = None, service_error_code: int | None = None
) -> JSONResponse:
    """The common ``{"status", "serviceErrorCode", "code", "message"}`` body."""
    body: dict[str, Any] = {"status": status}
    if service_error_code is not None:
        body["serviceErrorCode"] = service_error_code
    if code is not None:
        body["code"] = code
    body["message"] = message
    return JSONResponse(body, status_code=status)


def empty_token() -> JSONResponse:
    return JSONResponse({"message": "Empty oauth2_access_token", "serviceErrorCode": 401, "status": 401}, 401)


_TOKEN_PROBLEMS = {
    TokenProblem.INVALID: (65600, "INVALID_ACCESS_TOKEN", "Invalid access token"),
    TokenProblem.EXPIRED: (65602, "EXPIRED_ACCESS_TOKEN", "The token used in the request has expired"),
    TokenProblem.REVOKED: (65601, "REVOKED_ACCESS_TOKEN", "The token used in the request has been revoked by the user"),
}


def token_problem(problem: TokenProblem) -> JSONResponse:
    number, code, message = _TOKEN_PROBLEMS[problem]
    return service_error(401, message, code=code, service_error_code=number)


def access_denied(resource: str) -> JSONResponse:
    """``resource`` like ``partnerApiPostsExternal.CREATE.20260701`` or ``userinfo.GET.NO_VERSION``."""
    return service_error(
        403, f"Not enough permissions to access: {resource}", code="ACCESS_DENIED", service_error_code=100
    )


def version_missing() -> JSONResponse:
    response = service_error(
        400,
        "A version must be present. Please specify a version by adding the LinkedIn-Version header.",
        code="VERSION_MISSING",
    )
    response.headers["X-Restli-Gateway-Error"] = "true"
    return response


def nonexistent_version(version: str) -> JSONResponse:
    # The message spells the version YYYYMMDD though the header is YYYYMM
    # (https://learn.microsoft.com/en-us/linkedin/marketing/versioning; observed message).
    return service_error(426, f"Requested version {version[:6]}01 is not active", code="NONEXISTENT_VERSION")


def illegal_argument(message: str) -> JSONResponse:
    return service_error(400, message, code="ILLEGAL_ARGUMENT")


def unreadable_body() -> JSONResponse:
    return illegal_argument("Request body could not be converted to data map")


def schema_errors(lines: list[str]) -> JSONResponse:
    """422 with one ``ERROR :: /path :: reason`` line per problem (observed answers to https://learn.microsoft.com/en-us/linkedin/marketing/community-management/shares/posts-api)."""
    return JSONResponse({"message": "".join(f"{line}\n" for line in lines), "status": 422}, status_code=422)


def duplicate(existing_urn: str) -> JSONResponse:
    """The observed 422 for a repeated commentary: the message names the existing post (not documented)."""
    return JSONResponse(
        {
            "errorDetailType": "com.linkedin.common.error.BadRequest",
            "message": "com.linkedin.content.common.exception.BadRequestResponseException: "
            f"Content is a duplicate of {existing_urn}",
            "errorDetails": {
                "inputErrors": [{"description": "Duplicate post is detected", "input": {}, "code": "DUPLICATE_POST"}]
            },
            "status": 422,
        },
        status_code=422,
    )


def assets_not_owned() -> JSONResponse:
    """Observed (https://github.com/MicrosoftDocs/feedback/issues/1815): a post using another member's asset."""
    return JSONResponse(
        {
            "message": "com.linkedin.publishing.util.common.ResponseException: One or more of the assets is not owned "
            "by the author. All assets must be owned by the author",
            "status": 400,
        },
        status_code=400,
    )


def media_unusable(urn: str, reason: str) -> JSONResponse:
    """sandbox: LinkedIn documents no answer for a post naming an unknown or unprocessed asset; the sandbox uses the
    Rest.li validation form of ``schema_errors`` naming the asset and its status."""
    return schema_errors([f"ERROR :: /content :: media {urn} {reason}"])


def not_found(message: str = "Not Found") -> JSONResponse:
    return service_error(404, message, code="NOT_FOUND")


def too_many_requests(until: dt.datetime | None, *, retry_after: bool) -> JSONResponse:
    """429. Real LinkedIn sends no reset header (observed); the sandbox adds ``Retry-After`` unless configured not to.

    The message is the documented one
    (https://learn.microsoft.com/en-us/linkedin/shared/api-guide/concepts/rate-limits); ``code``/``serviceErrorCode``
    are not documented: the sandbox uses ``TOO_MANY_REQUESTS``/101.
    """
    response = service_error(429, THROTTLE_MESSAGE, code="TOO_MANY_REQUESTS", service_error_code=101)
    if retry_after and until is not None:
        seconds = max(0, math.ceil((until - dt.datetime.now(dt.UTC)).total_seconds()))
        response.headers["Retry-After"] = str(seconds)
    return response


def next_utc_midnight() -> dt.datetime:
    """LinkedIn's daily limits reset at midnight UTC (https://learn.microsoft.com/en-us/linkedin/shared/api-guide/concepts/rate-limits)."""
    tomorrow = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)
    return dt.datetime.combine(tomorrow, dt.time(), tzinfo=dt.UTC)


def server_error() -> JSONResponse:
    return service_error(500, "Internal Server Error", code="INTERNAL_SERVER_ERROR")


def service_unavailable() -> JSONResponse:
    return service_error(503, "Service Unavailable")


def gateway_timeout() -> JSONResponse:
    return service_error(504, "Gateway Timeout")


def oauth_error(status: int, error: str, description: str) -> JSONResponse:
    """The token endpoint's error form: ``{"error", "error_description"}``."""
    return JSONResponse({"error": error, "error_description": description}, status_code=status)


def missing_parameter(name: str) -> JSONResponse:
    return oauth_error(400, "invalid_request", f'A required parameter "{name}" is missing')


def created(urn: str) -> Response:
    """201, the new id in ``x-restli-id``, and an empty body (https://learn.microsoft.com/en-us/linkedin/marketing/community-management/shares/posts-api)."""
    return Response(status_code=201, headers={"x-restli-id": urn})
