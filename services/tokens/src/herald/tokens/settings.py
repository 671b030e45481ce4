"""Settings of the tokens service: ``HERALD_*`` environment variables, nested with ``__``.

Platforms: one nested settings object per platform (``HERALD_X__CLIENT_ID``, ``HERALD_LINKEDIN__TOKEN_URL``,
``HERALD_META__CLIENT_SECRET``...). A platform left unset is not configured: connecting or refreshing accounts of it
answers 503. In development an unset platform points at its local sandbox (``make run`` starts them on 9101-9103)
with the sandboxes' ``herald-dev`` client, so the service works out of the box.

Encryption keys: ``HERALD_TOKEN_KEYS`` (JSON ``{"k1": "<base64 of 32 bytes>"}``) plus ``HERALD_TOKEN_PRIMARY_KEY``,
or a mounted file ``HERALD_TOKEN_KEYS_FILE`` (see :mod:`herald.tokens.crypto`). Outside development the service
refuses to start without a key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Self

from pydantic import Field, SecretStr, model_validator

from herald.contracts.platform import Platform
from herald.kit.settings import ServiceSettings
from herald.platforms.linkedin import LinkedInSettings
from herald.platforms.meta import MetaSettings
from herald.platforms.x import XSettings

SANDBOX_PORTS = {Platform.X: 9101, Platform.LINKEDIN: 9102, Platform.META: 9103}


class TokensSettings(ServiceSettings):
    """Everything the tokens service can be told. Defaults suit ``make run``; tests shorten the intervals."""

    service_name: str = "tokens"
    http_port: int = Field(default=8002, ge=0, le=65535)

    x: XSettings | None = None
    linkedin: LinkedInSettings | None = None
    meta: MetaSettings | None = None

    service_credentials: dict[str, str] = Field(
        default_factory=dict, description="Calling service name -> SHA-256 of its secret (internal API)."
    )
    token_keys: dict[str, SecretStr] = Field(default_factory=dict, description="Key id -> base64 AES-256 key.")
    token_primary_key: str | None = Field(default=None, description="The key id new ciphertexts are written with.")
    token_keys_file: Path | None = Field(default=None, description="JSON file with the key ring (mounted secret).")

    public_base_url: str | None = Field(
        default=None, description="Where this service is reached; the default OAuth redirect URI is built from it."
    )
    allowed_redirect_uris: tuple[str, ...] = Field(
        default=(), description="If set, the only redirect URIs a connect request may name (besides the default)."
    )
    oauth_state_ttl_seconds: float = Field(default=600, gt=0)

    refresh_skew_seconds: float = Field(default=300, ge=0, description="Refresh tokens expiring within this.")
    refresh_timeout_seconds: float = Field(default=15, gt=0, description="Bound on one platform refresh call.")
    refresh_backoff_seconds: float = Field(default=5, gt=0, description="First wait after a transient failure.")
    refresh_backoff_max_seconds: float = Field(default=300, gt=0)
    refresh_loop_interval_seconds: float = Field(default=60, gt=0)
    refresh_ahead_seconds: float = Field(
        default=900, ge=0, description="The background loop refreshes tokens expiring within this."
    )
    refresh_batch_size: int = Field(default=50, ge=1)
    refresh_loop_enabled: bool = Field(default=True, description="Run the background refresh sweep.")
    outbox_poll_interval_seconds: float = Field(default=1.0, gt=0, description="Outbox relay fallback poll.")
    reauth_warning_seconds: float = Field(
        default=7 * 24 * 3600, ge=0, description="Warn this long before a grant that cannot be refreshed ends."
    )

    @model_validator(mode="after")
    def _keys_and_platforms(self) -> Self:
        if not self.is_development and not self.token_keys and self.token_keys_file is None:
            raise ValueError(
                "no token encryption key: set HERALD_TOKEN_KEYS (+ HERALD_TOKEN_PRIMARY_KEY) or HERALD_TOKEN_KEYS_FILE"
            )
        if self.is_development:
            self.x = self.x or XSettings.for_sandbox(_sandbox(Platform.X))
            self.linkedin = self.linkedin or LinkedInSettings.for_sandbox(_sandbox(Platform.LINKEDIN))
            self.meta = self.meta or MetaSettings.for_sandbox(_sandbox(Platform.META))
        for platform in Platform:
            configured = self.platform_settings(platform)
            if configured is not None and not configured.client_secret.get_secret_value():
                raise ValueError(f"HERALD_{platform.value.upper()}__CLIENT_SECRET is empty")
        return self

    def platform_settings(self, platform: Platform) -> XSettings | LinkedInSettings | MetaSettings | None:
        """The configuration of one platform, or ``None`` if it is not configured."""
        return {Platform.X: self.x, Platform.LINKEDIN: self.linkedin, Platform.META: self.meta}[platform]

    def callback_url(self, platform: Platform) -> str:
        """The default OAuth redirect URI: this service's own callback endpoint."""
        base = self.public_base_url or f"http://{self.http_host}:{self.http_port}"
        return f"{base.rstrip('/')}/v1/oauth/{platform.value}/callback"


def _sandbox(platform: Platform) -> str:
    return f"http://127.0.0.1:{SANDBOX_PORTS[platform]}"
