"""Configuration of the X adapter. Built by the service's settings layer and passed down; never reads env."""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr

from herald.platforms.base import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET


class XSettings(BaseModel):
    """Where X lives and who Herald is to it. Every URL can point at the sandbox (see :meth:`for_sandbox`)."""

    api_base_url: str = Field(default="https://api.x.com", description="Host of the v2 API and the token endpoint.")
    api_version: str = Field(default="2", description="X versions by path only: /2/...")
    authorize_url: str = "https://x.com/i/oauth2/authorize"
    token_url: str = "https://api.x.com/2/oauth2/token"
    client_id: str = ""  # empty until the app is registered; only the OAuth flow needs it
    client_secret: SecretStr = Field(
        default=SecretStr(""), description="Confidential client: sent with HTTP Basic auth to the token URL."
    )
    scopes: tuple[str, ...] = ("tweet.read", "tweet.write", "users.read", "offline.access", "media.write")
    timeout_seconds: float = 10.0
    max_weighted_length: int = Field(default=280, description="280; X Premium accounts may post longer.")
    post_url_template: str = "https://x.com/i/web/status/{id}"
    read_back_skew_seconds: int = Field(
        default=60, description="Read-back searches this much before the given time (clock skew with X)."
    )
    media_segment_bytes: int = Field(
        default=4 * 1024 * 1024, ge=1, le=5 * 1024 * 1024, description="APPEND segment size; X allows at most 5 MB."
    )
    media_processing_max_wait_seconds: float = Field(
        default=300.0, gt=0, description="How long one attempt waits for video/GIF processing before retrying later."
    )
    media_min_poll_seconds: float = Field(default=1.0, ge=0, description="Floor under X's check_after_secs.")
    media_reuse_margin_seconds: int = Field(
        default=600, ge=0, description="A recorded media id is reused only if it lives at least this much longer."
    )
    read_back_max_pages: int = Field(default=32, description="At 100 a page: X's 3,200-post timeline window.")

    @classmethod
    def for_sandbox(
        cls,
        base_url: str,
        *,
        client_id: str = SANDBOX_CLIENT_ID,
        client_secret: str = SANDBOX_CLIENT_SECRET,
        **overrides: object,
    ) -> XSettings:
        """Settings with every X endpoint on ``base_url`` (the Herald X sandbox)."""
        base = base_url.rstrip("/")
        values: dict[str, object] = {
            "api_base_url": base,
            "authorize_url": f"{base}/i/oauth2/authorize",
            "token_url": f"{base}/2/oauth2/token",
            "client_id": client_id,
            "client_secret": SecretStr(client_secret),
            **overrides,
        }
        return cls.model_validate(values)

    def api_url(self, path: str) -> str:
        """``path`` relative to the versioned API root, e.g. ``api_url("tweets")``."""
        return f"{self.api_base_url.rstrip('/')}/{self.api_version}/{path.lstrip('/')}"
