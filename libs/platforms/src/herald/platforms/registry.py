"""One place that maps a :class:`Platform` to its adapter, so callers never branch on the platform themselves."""

from __future__ import annotations

import httpx
from pydantic import BaseModel, Field

from herald.contracts.platform import Platform
from herald.platforms import linkedin, meta, x
from herald.platforms.base import ContentRules, PlatformKit
from herald.platforms.linkedin import LinkedInRules, LinkedInSettings
from herald.platforms.meta import MetaContentRules, MetaSettings
from herald.platforms.x import XContentRules, XSettings

PlatformSettings = XSettings | LinkedInSettings | MetaSettings


class PlatformsSettings(BaseModel):
    """Per-platform settings, nested in a service's settings ."""

    x: XSettings = Field(default_factory=XSettings)
    linkedin: LinkedInSettings = Field(default_factory=LinkedInSettings)
    meta: MetaSettings = Field(default_factory=MetaSettings)

    def for_platform(self, platform: Platform) -> PlatformSettings:
        match platform:
            case Platform.X:
                return self.x
            case Platform.LINKEDIN:
                return self.linkedin
            case Platform.META:
                return self.meta


def build_kit(platform: Platform, settings: PlatformsSettings, http: httpx.AsyncClient) -> PlatformKit:
    """The adapter for ``platform`` over one shared HTTP client."""
    match platform:
        case Platform.X:
            return x.build(settings.x, http)
        case Platform.LINKEDIN:
            return linkedin.build(settings.linkedin, http)
        case Platform.META:
            return meta.build(settings.meta, http)


def rules_for(platform: Platform) -> ContentRules:
    """Content rules alone (no HTTP), e.g. for validating a distribution when it is scheduled."""
    match platform:
        case Platform.X:
            return XContentRules()
        case Platform.LINKEDIN:
            return LinkedInRules()
        case Platform.META:
            return MetaContentRules()
