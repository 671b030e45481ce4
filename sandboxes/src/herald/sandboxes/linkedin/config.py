"""Configuration of the LinkedIn sandbox: accounts, token behaviour, API versions, limits."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field

KNOWN_SCOPES = frozenset(
    {
        "openid",
        "profile",
        "email",
        "w_member_social",
        "r_member_social",
        "w_organization_social",
        "r_organization_social",
        "rw_organization_admin",
        "r_basicprofile",
        "r_liteprofile",
        "r_emailaddress",
    }
)


class OrganizationConfig(BaseModel):
    """A LinkedIn Page: its name and which members hold which role on it."""

    name: str
    roles: dict[str, str] = Field(default_factory=dict, description="member sub -> ADMINISTRATOR, CONTENT_ADMIN...")


def _default_organizations() -> dict[str, OrganizationConfig]:
    return {"1001": OrganizationConfig(name="Herald Sandbox Page", roles={"sandbox-member": "ADMINISTRATOR"})}


class LinkedInSandboxConfig(BaseModel):
    """Everything that differs between LinkedIn apps and accounts. Defaults: a self-serve app with refresh tokens."""

    default_member: str = Field(default="sandbox-member", description="Who consents when ?account= is absent.")
    member_names: dict[str, str] = Field(default_factory=lambda: {"sandbox-member": "Sandbox Member"})
    organizations: dict[str, OrganizationConfig] = Field(default_factory=_default_organizations)
    clients: dict[str, str] = Field(default_factory=lambda: {"herald-dev": "herald-dev-secret"})
    default_scopes: tuple[str, ...] = Field(
        default=("openid", "profile", "email", "w_member_social"),
        description="Scopes of a token minted through /_sandbox/tokens with no scopes.",
    )
    # Tokens (https://learn.microsoft.com/en-us/linkedin/shared/authentication/programmatic-refresh-tokens): 60-day
    # access tokens; 365-day refresh tokens with a fixed TTL.
    access_token_ttl: dt.timedelta = dt.timedelta(days=60)
    refresh_token_ttl: dt.timedelta = dt.timedelta(days=365)
    issue_refresh_tokens: bool = Field(default=True, description="False: an app without programmatic refresh.")
    refresh_error: str = Field(default="invalid_request", description="OAuth error for a dead refresh token.")
    # Versions (https://learn.microsoft.com/en-us/linkedin/marketing/versioning): monthly YYYYMM, each active about a
    # year. None: relative to the current month.
    oldest_active_version: str | None = None
    newest_active_version: str | None = None
    inactive_versions: frozenset[str] = frozenset()
    require_restli_protocol: bool = Field(default=True, description="Refuse /rest calls without 2.0.0 protocol.")
    # Posting
    commentary_limit: int = 3000
    duplicate_window: dt.timedelta = Field(
        default=dt.timedelta(hours=24), description="Reference 6: reported windows range from 10 minutes to 48 h."
    )
    daily_post_limit: int | None = Field(
        default=None, description="Posts per member per UTC day (about 150 in the wild); None = unlimited."
    )
    # Media (images-api / videos-api pages): upload URLs expire; LinkedIn does not document after how long.
    upload_url_ttl: dt.timedelta = Field(default=dt.timedelta(hours=1), description="Life of an upload URL.")
    video_part_bytes: int = Field(
        default=4 * 1024 * 1024, ge=1, description="Byte range of one video upload instruction (4 MB on LinkedIn)."
    )
    image_processing: dt.timedelta = Field(
        default=dt.timedelta(milliseconds=50), description="PROCESSING time of an image after its upload."
    )
    video_processing: dt.timedelta = Field(
        default=dt.timedelta(milliseconds=300), description="PROCESSING time of a video after finalizeUpload."
    )
    send_retry_after: bool = Field(
        default=True, description="Add Retry-After to 429s (real LinkedIn sends none; see the app docstring)."
    )
