"""Configuration of the X sandbox (all optional: ``create_app()`` with no config emulates X's defaults)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, field_validator


class XAccountProfile(BaseModel):
    """How one sandbox account looks on X. Unset fields are derived from the account name."""

    user_id: str | None = Field(default=None, pattern=r"^[0-9]{1,19}$")
    username: str | None = None
    name: str | None = None


class RateLimitRule(BaseModel):
    """``limit`` requests per fixed window of ``window_seconds`` (starting at the first request)."""

    limit: int = Field(ge=1)
    window_seconds: int = Field(ge=1)


# https://docs.x.com/x-api/fundamentals/rate-limits. The manage-posts migration guide says 200 / 15 min for
# POST /2/tweets; the two pages disagree, and the rate-limit table (100) is used.
DEFAULT_RATE_LIMITS: dict[str, RateLimitRule] = {
    "tweets.create": RateLimitRule(limit=100, window_seconds=900),
    "tweets.create.app24h": RateLimitRule(limit=10_000, window_seconds=86_400),
    "tweets.delete": RateLimitRule(limit=50, window_seconds=900),
    "tweets.lookup": RateLimitRule(limit=900, window_seconds=900),
    "users.tweets": RateLimitRule(limit=900, window_seconds=900),
    "users.me": RateLimitRule(limit=75, window_seconds=900),
    # Not in X's rate-limit table (https://docs.x.com/x-api/fundamentals/rate-limits lists the media endpoints without
    # numbers this sandbox could verify): a sandbox choice, shared by every media upload call of a user.
    "media.upload": RateLimitRule(limit=500, window_seconds=900),
    # Not in X's rate-limit table (https://docs.x.com/x-api/fundamentals/rate-limits): a sandbox choice, only reported
    # on injected token-endpoint 429s.
    "oauth2.token": RateLimitRule(limit=300, window_seconds=900),
}


class XSandboxConfig(BaseModel):
    """Behaviour switches of the X sandbox."""

    default_account: str = Field(default="herald-sandbox", description="Who consents when ?account= is absent.")
    accounts: dict[str, XAccountProfile] = Field(default_factory=dict)
    clients: dict[str, str] = Field(
        default_factory=lambda: {"herald-dev": "herald-dev-secret"},
        description="Confidential OAuth clients: client_id -> client_secret.",
    )
    app_bearer_tokens: frozenset[str] = Field(
        default=frozenset({"sandbox-app-only-bearer"}),
        description="App-only bearer tokens: refused on user-context endpoints with 403 unsupported-authentication.",
    )
    access_token_ttl_seconds: int = 7200
    # X documents the 2-hour access token but no refresh-token lifetime
    # (https://docs.x.com/fundamentals/authentication/oauth-2-0/authorization-code): a sandbox choice.
    refresh_token_ttl_days: int | None = 180
    refresh_failure_error: Literal["invalid_request", "invalid_grant"] = Field(
        default="invalid_request", description="X really sends invalid_request; invalid_grant is a test switch."
    )
    max_weighted_length: int = 280
    long_post_accounts: frozenset[str] = Field(default=frozenset(), description="X Premium accounts.")
    long_post_max_weighted_length: int = 25_000
    # X documents the duplicate refusal, not its window
    # (https://docs.x.com/x-api/fundamentals/response-codes-and-errors): a sandbox choice.
    duplicate_window_seconds: int = 86_400
    enforce_rate_limits: bool = Field(default=True, description="False: count and report, never refuse.")
    rate_limits: dict[str, RateLimitRule] = Field(
        default_factory=lambda: dict(DEFAULT_RATE_LIMITS), description="Overrides merged over the defaults."
    )
    media_expires_after_secs: int = Field(
        default=86_400,
        description="How long a media id lives after INIT (X answers expires_after_secs; 24 h for an image on v1.1).",
    )
    media_processing_seconds: float = Field(
        default=1.0, ge=0, description="How long video and GIF processing takes after FINALIZE (a sandbox choice)."
    )
    media_check_after_secs: int = Field(default=1, ge=0, description="processing_info.check_after_secs answered.")
    api_version_header: str = Field(default="2.167", description="The api-version response header.")

    @field_validator("rate_limits")
    @classmethod
    def _merge_with_defaults(cls, rules: dict[str, RateLimitRule]) -> dict[str, RateLimitRule]:
        return {**DEFAULT_RATE_LIMITS, **rules}
