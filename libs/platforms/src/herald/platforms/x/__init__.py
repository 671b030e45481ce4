"""X (Twitter API v2) adapter: publishing, read-back, content rules, error classification and OAuth 2.0 (PKCE).

``build(settings, http)`` returns the :class:`~herald.platforms.base.PlatformKit` the publisher uses.
"""

from __future__ import annotations

import httpx

from herald.contracts.platform import Platform
from herald.platforms.base import PlatformKit
from herald.platforms.x.client import XClient
from herald.platforms.x.counting import TextCount, count, weighted_length
from herald.platforms.x.oauth import XOAuthClient
from herald.platforms.x.rules import XContentRules
from herald.platforms.x.settings import XSettings

__all__ = [
    "TextCount",
    "XClient",
    "XContentRules",
    "XOAuthClient",
    "XSettings",
    "build",
    "count",
    "weighted_length",
]


def build(settings: XSettings, http: httpx.AsyncClient) -> PlatformKit:
    """The X kit over one shared HTTP client (never one client per call)."""
    return PlatformKit(
        platform=Platform.X,
        client=XClient(settings, http),
        rules=XContentRules(settings.max_weighted_length),
        oauth=XOAuthClient(settings, http),
    )
