"""The Graph API errors the sandbox answers with
(https://developers.facebook.com/docs/graph-api/guides/error-handling), and the fault names that select them.

Every error is ``{"error": {"message", "type", "code", "error_subcode"?, "is_transient"?, "fbtrace_id"}}``.
Messages are the documented or observed ones where known; the rest are marked "sandbox wording".
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from herald.sandboxes.oauth import TokenProblem


class Category(StrEnum):
    """How an error's HTTP status and headers are chosen."""

    PLAIN = "plain"  # the spec's own status
    THROTTLE = "throttle"  # config.throttle_status + usage headers
    TOKEN = "token"  # config.token_error_status


@dataclass(frozen=True)
class ErrorSpec:
    """One Graph error."""

    code: int
    message: str
    status: int = 400
    subcode: int | None = None
    type: str = "OAuthException"
    transient: bool | None = None
    category: Category = Category.PLAIN
    data: tuple[tuple[str, str], ...] = ()  # ``error_data`` (e.g. the offsets a video upload session expects)

    def body(self, fbtrace_id: str) -> dict[str, object]:
        error: dict[str, object] = {"message": self.message, "type": self.type, "code": self.code}
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        if self.data:
            error["error_data"] = dict(self.data)
        if self.transient is not None:
            error["is_transient"] = self.transient
        error["fbtrace_id"] = fbtrace_id
        return {"error": error}

    def with_message(self, message: str) -> ErrorSpec:
        return replace(self, message=message)

    def with_data(self, data: dict[str, str]) -> ErrorSpec:
        return replace(self, data=tuple(data.items()))


PERMISSION_MESSAGE = (
    "(#200) If posting to a group, requires app being installed in the group, and either publish_to_groups "
    "permission with user token, or both pages_read_engagement and pages_manage_posts permission with page token; "
    "If posting to a page, requires both pages_read_engagement and pages_manage_posts as an admin with sufficient "
    "administrative permission"
)

SERVER_ERROR = ErrorSpec(
    2, "An unexpected error has occurred. Please retry your request later.", status=500, transient=True
)
UNAVAILABLE = ErrorSpec(2, "(#2) Service temporarily unavailable", status=503, transient=True)
INVALID_TOKEN = ErrorSpec(190, "Invalid OAuth access token - Cannot parse access token", category=Category.TOKEN)
EXPIRED_TOKEN = ErrorSpec(
    190,
    "Error validating access token: Session has expired on {expired}. The current time is {now}.",
    subcode=463,
    category=Category.TOKEN,
)
REVOKED_TOKEN = ErrorSpec(
    190,
    "Error validating access token: The session has been invalidated because the user changed their password or "
    "Facebook has changed the session for security reasons.",
    subcode=460,
    category=Category.TOKEN,
)
PAGE_RATE_LIMIT = ErrorSpec(
    80001,
    # Code from https://developers.facebook.com/docs/graph-api/overview/rate-limiting; the exact text is not documented.
    "(#80001) There have been too many calls to this Page account. Wait a bit and try again. For more info, "
    "please refer to https://developers.facebook.com/docs/graph-api/overview/rate-limiting.",
    category=Category.THROTTLE,
)
APP_RATE_LIMIT = ErrorSpec(4, "(#4) Application request limit reached", category=Category.THROTTLE)
DUPLICATE = ErrorSpec(506, "(#506) Duplicate status message")
PERMISSION_DENIED = ErrorSpec(200, PERMISSION_MESSAGE, status=403)
TOKEN_REQUIRED = ErrorSpec(104, "An access token is required to request this resource.")
PAGE_TOKEN_REQUIRED = ErrorSpec(190, "(#190) This method must be called with a Page Access Token")
BAD_PROOF = ErrorSpec(100, "Invalid appsecret_proof provided in the API argument", type="GraphMethodException")
MISSING_CONTENT = ErrorSpec(100, "(#100) Missing message or attachment")
# Sandbox wording: Meta's answer to an over-long message is not documented (https://developers.facebook.com/docs/graph-api/reference/page/feed).
TOO_LONG = ErrorSpec(100, "(#100) The message is too long. The maximum length is {limit} characters.")
INVALID_LINK = ErrorSpec(100, "(#100) The link you provided is not a valid URL.", subcode=2061006)
SCHEDULED_PUBLISHED = ErrorSpec(100, "(#100) Cannot specify a scheduled publish time on a published post")
INVALID_PARAMETER = ErrorSpec(100, "(#100) Invalid parameter")
# Reading a Page's instagram_business_account without instagram_basic (sandbox wording; code 10 = permission).
NO_IG_PERMISSION = ErrorSpec(10, "(#10) Application does not have permission for this action: instagram_basic")
# Sandbox wording: the answer to a bad attached_media entry is not documented.
BAD_ATTACHMENT = ErrorSpec(100, "(#100) attached_media[{index}] must be an unpublished photo of this Page")
UNKNOWN_PATH = ErrorSpec(2500, "Unknown path components: {path}")
NO_SUCH_FIELD = ErrorSpec(100, "(#100) Tried accessing nonexisting field ({field}) on node type ({node})")
NO_SUCH_OBJECT = ErrorSpec(
    100,
    "Unsupported {method} request. Object with ID '{node}' does not exist, cannot be loaded due to missing "
    "permissions, or does not support this operation. Please read the Graph API documentation at "
    "https://developers.facebook.com/docs/graph-api",
    subcode=33,
    type="GraphMethodException",
)
# Token endpoint (sandbox wording for the code ones; observed forms, not in https://developers.facebook.com/docs/facebook-login/guides/advanced/manual-flow).
BAD_CLIENT_ID = ErrorSpec(101, "Error validating application. Invalid application ID.")
BAD_CLIENT_SECRET = ErrorSpec(1, "Error validating client secret.")
BAD_CODE = ErrorSpec(100, "Invalid verification code format.")
REDIRECT_MISMATCH = ErrorSpec(
    100,
    "Error validating verification code. Please make sure your redirect_uri is identical to the one you used in "
    "the OAuth dialog request",
    subcode=36008,
)
MISSING_GRANT = ErrorSpec(100, "Missing authorization code")

# kind=error fault names (documented in herald.sandboxes.meta.app).
FAULT_ERRORS: dict[str, ErrorSpec] = {
    "server_error": SERVER_ERROR,
    "unknown_error": ErrorSpec(1, "An unknown error occurred", status=500, transient=True),
    "service_unavailable": UNAVAILABLE,
    "rate_limited": PAGE_RATE_LIMIT,
    "app_rate_limited": APP_RATE_LIMIT,
    "user_rate_limited": ErrorSpec(
        17, "(#17) User request limit reached", subcode=2446079, transient=True, category=Category.THROTTLE
    ),
    "page_rate_limited": ErrorSpec(32, "(#32) Page request limit reached", category=Category.THROTTLE),
    "custom_rate_limited": ErrorSpec(
        613, "(#613) Calls to this api have exceeded the rate limit.", category=Category.THROTTLE
    ),
    "feed_limit": ErrorSpec(341, "(#341) Feed action request limit reached", category=Category.THROTTLE),
    "posting_too_fast": ErrorSpec(
        368, "(#368) The action attempted has been deemed abusive or is otherwise disallowed", subcode=1390008
    ),
    "policy_blocked": ErrorSpec(368, "(#368) The action attempted has been deemed abusive or is otherwise disallowed"),
    "duplicate": DUPLICATE,
    "expired_token": EXPIRED_TOKEN,
    "revoked_token": REVOKED_TOKEN,
    "invalid_token": INVALID_TOKEN,
    "logged_out": ErrorSpec(
        190,
        "Error validating access token: The session is invalid because the user logged out.",
        subcode=467,
        category=Category.TOKEN,
    ),
    "deauthorized": ErrorSpec(
        190,
        "Error validating access token: The user has not authorized application.",
        subcode=458,
        category=Category.TOKEN,
    ),
    "permission_denied": PERMISSION_DENIED,
    "bad_request": INVALID_PARAMETER,
    "link_error": ErrorSpec(1609005, "(#1609005) Error Posting Link"),  # sandbox wording
}

_PACIFIC_NAME = "America/Los_Angeles"


def _meta_time(moment: dt.datetime) -> str:
    """Graph's expiry wording uses Pacific time: ``Saturday, 24-Mar-18 05:00:00 PDT``."""
    try:
        moment = moment.astimezone(ZoneInfo(_PACIFIC_NAME))
    except ZoneInfoNotFoundError:  # no tz database: keep UTC
        moment = moment.astimezone(dt.UTC)
    return moment.strftime("%A, %d-%b-%y %H:%M:%S %Z")


def expired_token(expired_at: dt.datetime | None, now: dt.datetime) -> ErrorSpec:
    expired = _meta_time(expired_at or now)
    return EXPIRED_TOKEN.with_message(EXPIRED_TOKEN.message.format(expired=expired, now=_meta_time(now)))


def token_error(problem: TokenProblem, now: dt.datetime, expired_at: dt.datetime | None = None) -> ErrorSpec:
    """Code 190 with the subcode of the token problem: 463 expired, 460 revoked (password change), none invalid."""
    if problem is TokenProblem.EXPIRED:
        return expired_token(expired_at, now)
    if problem is TokenProblem.REVOKED:
        return REVOKED_TOKEN
    return INVALID_TOKEN


def fault_error(name: str | None, now: dt.datetime) -> ErrorSpec:
    """The error a kind=error fault names; an unknown name is reported as a sandbox misuse (HTTP 500)."""
    if name == "expired_token":
        return expired_token(None, now)
    spec = FAULT_ERRORS.get(name or "")
    if spec is None:
        known = ", ".join(sorted(FAULT_ERRORS))
        return ErrorSpec(1, f"sandbox: unknown fault error {name!r}; known: {known}", status=500, type="SandboxFault")
    return spec
