"""X's own error bodies (https://docs.x.com/x-api/fundamentals/response-codes-and-errors) and the fault names the
sandbox can inject."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse, Response

PROBLEMS = "https://api.twitter.com/2/problems"
JSON_UTF8 = "application/json; charset=utf-8"
PROBLEM_JSON = "application/problem+json"

UNAUTHORIZED = {"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"}
DUPLICATE = {
    "detail": "You are not allowed to create a Tweet with duplicate content.",
    "type": "about:blank",
    "title": "Forbidden",
    "status": 403,
}
# Over-long text is reported both as 400 and 403 by developers
# (https://docs.x.com/x-api/fundamentals/response-codes-and-errors names neither); 403 is used.
TOO_LONG = {"detail": "Your Tweet text is too long.", "type": "about:blank", "title": "Forbidden", "status": 403}
NOT_PERMITTED = {
    "title": "Forbidden",
    "type": "about:blank",
    "status": 403,
    "detail": "You are not permitted to perform this action.",
}
UNSUPPORTED_AUTHENTICATION = {
    "title": "Unsupported Authentication",
    "detail": "Authenticating with OAuth 2.0 Application-Only is forbidden for this endpoint.  Supported "
    "authentication types are [OAuth 1.0a User Context, OAuth 2.0 User Context].",
    "type": f"{PROBLEMS}/unsupported-authentication",
    "status": 403,
}
CLIENT_FORBIDDEN = {
    "client_id": "sandbox",
    "detail": "When authenticating requests to the Twitter API v2 endpoints, you must use keys and tokens from a "
    "Twitter developer App that is attached to a Project. You can create a project via the developer portal.",
    "registration_url": "https://developer.twitter.com/en/docs/projects/overview",
    "title": "Client Forbidden",
    "required_enrollment": "Appropriate Level of API Access",
    "reason": "client-not-enrolled",
    "type": f"{PROBLEMS}/client-forbidden",
}
# Wording for replying to a missing post as reported in client libraries' issue trackers (not documented).
REPLY_NOT_VISIBLE = {
    "detail": "You attempted to reply to a Tweet that is deleted or not visible to you.",
    "type": "about:blank",
    "title": "Forbidden",
    "status": 403,
}
TOO_MANY_REQUESTS = {"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank", "status": 429}
USAGE_CAPPED = {
    "title": "UsageCapExceeded",
    "detail": "Usage cap exceeded: Monthly product cap",
    "type": f"{PROBLEMS}/usage-capped",
    "period": "Monthly",
    "scope": "Product",
}
CREDITS_DEPLETED = {
    "account_id": 1243608864848629761,
    "title": "CreditsDepleted",
    "detail": "Your enrolled account [1243608864848629761] does not have any credits to fulfill this request.",
    "type": f"{PROBLEMS}/credits",
}
SERVICE_UNAVAILABLE = {
    "title": "Service Unavailable",
    "detail": "Service Unavailable",
    "type": "about:blank",
    "status": 503,
}
INTERNAL_ERROR = {
    "title": "Internal Server Error",
    "detail": "Internal Server Error",
    "type": "about:blank",
    "status": 500,
}

# v1.1 posting is not available to current API access levels: code 453 (observed and widely reported; not in
# https://docs.x.com/x-api/fundamentals/response-codes-and-errors). The sandbox serves only /2/, so every /1.1/
# endpoint answers this.
V1_NOT_AVAILABLE = {
    "errors": [
        {
            "message": "You currently have access to a subset of X API V2 endpoints and limited v1.1 endpoints "
            "(e.g. media post, oauth) only. If you need access to this endpoint, you may need a different access "
            "level. You can learn more here: https://developer.x.com/en/portal/product",
            "code": 453,
        }
    ]
}

# The token endpoint answers in OAuth 2.0 (RFC 6749) form.
TOKEN_INVALID = {"error": "invalid_request", "error_description": "Value passed for the token was invalid."}
TOKEN_INVALID_GRANT = {"error": "invalid_grant", "error_description": "Value passed for the token was invalid."}
MISSING_CLIENT_AUTH = {"error": "unauthorized_client", "error_description": "Missing valid authorization header"}


def x_json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A success answer: compact JSON, ``application/json; charset=utf-8`` like X."""
    return JSONResponse(body, status_code=status, headers=headers, media_type=JSON_UTF8)


def problem(body: dict[str, Any], status: int, headers: dict[str, str] | None = None) -> Response:
    """An error answer with one of the bodies above."""
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


def invalid_request(message: str, parameters: dict[str, list[str]] | None = None) -> Response:
    """400 ``invalid-request`` with an ``errors`` array, the shape X uses for parameter and body validation."""
    error: dict[str, Any] = {"message": message}
    if parameters is not None:
        error = {"parameters": parameters, "message": message}
    body = {
        "errors": [error],
        "title": "Invalid Request",
        "detail": "One or more parameters to your request was invalid.",
        "type": f"{PROBLEMS}/invalid-request",
    }
    return problem(body, 400)


def not_found(resource_type: str, parameter: str, value: str) -> dict[str, Any]:
    """One ``resource-not-found`` entry, as X puts in ``errors`` of a 200 answer."""
    return {
        "value": value,
        "detail": f"Could not find {resource_type} with {parameter}: [{value}].",
        "title": "Not Found Error",
        "resource_type": resource_type,
        "parameter": parameter,
        "resource_id": value,
        "type": f"{PROBLEMS}/resource-not-found",
    }


# Fault names for kind=error on API calls (create and read): status and body.
API_FAULTS: dict[str, tuple[int, dict[str, Any]]] = {
    "server_error": (500, INTERNAL_ERROR),
    "service_unavailable": (503, SERVICE_UNAVAILABLE),
    "rate_limited": (429, TOO_MANY_REQUESTS),
    "usage_capped": (429, USAGE_CAPPED),
    "credits_depleted": (402, CREDITS_DEPLETED),
    "duplicate": (403, DUPLICATE),
    "too_long": (403, TOO_LONG),
    "expired_token": (401, UNAUTHORIZED),
    "revoked_token": (401, UNAUTHORIZED),
    "invalid_token": (401, UNAUTHORIZED),
    "not_permitted": (403, NOT_PERMITTED),
    "unsupported_authentication": (403, UNSUPPORTED_AUTHENTICATION),
    "client_forbidden": (403, CLIENT_FORBIDDEN),
}

# Fault names for kind=error on the token endpoint (operation=token).
TOKEN_FAULTS: dict[str, tuple[int, dict[str, Any]]] = {
    "server_error": (500, INTERNAL_ERROR),
    "service_unavailable": (503, SERVICE_UNAVAILABLE),
    "rate_limited": (429, TOO_MANY_REQUESTS),
    "invalid_request": (400, TOKEN_INVALID),
    "invalid_grant": (400, TOKEN_INVALID_GRANT),
    "expired_token": (400, TOKEN_INVALID),
    "revoked_token": (400, TOKEN_INVALID),
    "bad_request": (400, TOKEN_INVALID),
    "unauthorized_client": (401, MISSING_CLIENT_AUTH),
}


def unknown_fault(name: str | None) -> Response:
    body = {
        "title": "Sandbox Fault",
        "detail": f"Unknown X sandbox fault error {name!r}: see herald.sandboxes.x.app for the names.",
        "type": "about:blank",
        "status": 500,
    }
    return problem(body, 500)
