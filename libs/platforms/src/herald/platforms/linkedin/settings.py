"""LinkedIn adapter settings: built by the service's configuration and passed down (never read from the environment)."""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr

from herald.platforms.base import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET

#: Scopes for publishing as the signed-in member ("Share on LinkedIn" + "Sign In with LinkedIn using OpenID
#: Connect", both self-serve). Organization posting needs the approved Community Management API scopes
#: ``w_organization_social r_organization_social rw_organization_admin`` (docs/platforms.md, "LinkedIn: posting").
MEMBER_SCOPES = ("openid", "profile", "w_member_social")


class LinkedInSettings(BaseModel):
    """Where LinkedIn lives and how Herald identifies itself to it. Every URL can point at the sandbox."""

    client_id: str = ""  # empty until the app is registered; only the OAuth flow needs it
    client_secret: SecretStr = SecretStr("")
    api_base_url: str = "https://api.linkedin.com"
    authorize_url: str = "https://www.linkedin.com/oauth/v2/authorization"
    token_url: str = "https://www.linkedin.com/oauth/v2/accessToken"
    web_base_url: str = "https://www.linkedin.com"
    # Monthly YYYYMM versions live at least a year (docs/platforms.md, "LinkedIn: versions"); 202607 is current.
    api_version: str = Field(default="202607", pattern=r"^\d{6}(\.\d{2})?$")
    timeout_seconds: float = Field(default=10.0, gt=0)
    scopes: tuple[str, ...] = MEMBER_SCOPES
    readback_page_size: int = Field(default=50, ge=1, le=100)
    readback_max_pages: int = Field(default=4, ge=1)
    # Media (docs/platforms.md, "LinkedIn: media"): how long one byte upload may take, how often and how long to wait
    # for processing within one attempt (a video still PROCESSING after that is retried later, resuming the wait),
    # and how close to its expiry a recorded upload URL is no longer trusted.
    upload_timeout_seconds: float = Field(default=120.0, gt=0)
    media_poll_interval_seconds: float = Field(default=2.0, gt=0)
    media_poll_timeout_seconds: float = Field(default=120.0, gt=0)
    upload_url_margin_seconds: float = Field(default=300.0, ge=0)

    @classmethod
    def for_sandbox(
        cls,
        base_url: str,
        *,
        client_id: str = SANDBOX_CLIENT_ID,
        client_secret: str = SANDBOX_CLIENT_SECRET,
        **overrides: object,
    ) -> LinkedInSettings:
        """Settings with every LinkedIn endpoint on ``base_url`` (the Herald LinkedIn sandbox)."""
        base = base_url.rstrip("/")
        values: dict[str, object] = {
            "client_id": client_id,
            "client_secret": SecretStr(client_secret),
            "api_base_url": base,
            "web_base_url": base,
            "authorize_url": f"{base}/oauth/v2/authorization",
            "token_url": f"{base}/oauth/v2/accessToken",
            **overrides,
        }
        return cls.model_validate(values)

    @property
    def rest_url(self) -> str:
        """Base of the versioned API (``/rest``): needs ``LinkedIn-Version``."""
        return f"{self.api_base_url.rstrip('/')}/rest"

    @property
    def v2_url(self) -> str:
        """Base of the unversioned API (``/v2``), still used by the OpenID ``userinfo`` endpoint."""
        return f"{self.api_base_url.rstrip('/')}/v2"
