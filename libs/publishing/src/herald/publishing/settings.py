"""Settings of a publisher deployment (one per platform)."""

from __future__ import annotations

from pydantic import Field, SecretStr

from herald.contracts.platform import Platform
from herald.kit.settings import ServiceSettings
from herald.platforms.linkedin import LinkedInSettings
from herald.platforms.meta import MetaSettings
from herald.platforms.registry import PlatformsSettings
from herald.platforms.x import XSettings
from herald.publishing.retry import DEFAULT_TIERS_MS


class PublisherSettings(ServiceSettings):
    platform: Platform = Platform.X
    tokens_url: str = "http://127.0.0.1:8002"
    service_token: SecretStr = Field(
        default=SecretStr("dev-unset"), description="This publisher's credential for the token service."
    )
    retry_tiers_ms: tuple[int, ...] = DEFAULT_TIERS_MS
    prefetch: int = Field(default=32, ge=1, description="Deliveries handled concurrently.")
    media_prefetch: int = Field(
        default=16,
        ge=1,
        description="Posts with media handled concurrently, on their own queue (publisher.<platform>.media), so that "
        "uploads never take the slots of text posts.",
    )
    delivery_limit: int = Field(default=10, ge=1, description="Redeliveries before a crashing message is parked.")
    in_flight_grace_seconds: float = Field(
        default=60.0,
        gt=0,
        description="How long a 'sending' ledger row may go without a sign of life before another delivery of the "
        "request reads the platform back instead of waiting (the delivery at work renews it every third of this, "
        "through media uploads and processing waits of any length; see herald.publishing.lease).",
    )
    token_cache_seconds: float = Field(default=300.0, ge=0)
    # One nested object per platform, named like the token service's: HERALD_X__API_BASE_URL and so on.
    x: XSettings = Field(default_factory=XSettings)
    linkedin: LinkedInSettings = Field(default_factory=LinkedInSettings)
    meta: MetaSettings = Field(default_factory=MetaSettings)

    @property
    def platforms(self) -> PlatformsSettings:
        return PlatformsSettings(x=self.x, linkedin=self.linkedin, meta=self.meta)
