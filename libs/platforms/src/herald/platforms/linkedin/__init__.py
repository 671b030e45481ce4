"""LinkedIn: member and organization posts through the versioned Posts API (``/rest/posts``).

Public API::

    kit = build(LinkedInSettings(client_id=..., client_secret=...), http)   # -> PlatformKit
    kit.rules.prepare(Draft(text=...))      # little-text escaping, 3,000-character limit
    await kit.client.publish(account, token, prepared)
    await kit.client.publish(account, token, prepared_with_media, MediaContext(source, memory))  # see .media
    await kit.client.find_published(account, token, prepared, since)
    kit.oauth.authorization_url(state, redirect_uri) / exchange_code / refresh / identities

``Account.platform_account_id`` is the author URN: ``urn:li:person:{sub}`` or ``urn:li:organization:{id}``.
"""

from __future__ import annotations

import httpx

from herald.contracts.platform import Platform
from herald.platforms.base import PlatformKit
from herald.platforms.linkedin.client import LinkedInClient
from herald.platforms.linkedin.errors import classify_response, classify_transport
from herald.platforms.linkedin.oauth import LinkedInOAuth
from herald.platforms.linkedin.rules import COMMENTARY_LIMIT, LinkedInRules
from herald.platforms.linkedin.settings import LinkedInSettings

__all__ = [
    "COMMENTARY_LIMIT",
    "LinkedInClient",
    "LinkedInOAuth",
    "LinkedInRules",
    "LinkedInSettings",
    "build",
    "classify_response",
    "classify_transport",
]


def build(settings: LinkedInSettings, http: httpx.AsyncClient) -> PlatformKit:
    """Wire LinkedIn's client, rules and OAuth around one shared HTTP client (owned by the caller)."""
    return PlatformKit(
        platform=Platform.LINKEDIN,
        client=LinkedInClient(settings, http),
        rules=LinkedInRules(),
        oauth=LinkedInOAuth(settings, http),
    )
