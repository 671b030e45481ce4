"""Facebook Pages (Meta Graph API): publishing, content rules, error classification and Facebook Login.

``build(settings, http)`` wires the pieces around one shared ``httpx.AsyncClient``::

    kit = build(MetaSettings(client_id=..., client_secret=...), http)
    post = kit.rules.prepare(Draft(text="Hello"))
    published = await kit.client.publish(Account(page_id), page_token, post)
"""

from __future__ import annotations

import httpx

from herald.contracts.platform import Platform
from herald.platforms.base import PlatformKit
from herald.platforms.meta.client import MetaClient
from herald.platforms.meta.oauth import MetaOAuth
from herald.platforms.meta.rules import MESSAGE_LIMIT, MetaContentRules
from herald.platforms.meta.settings import MetaSettings

__all__ = ["MESSAGE_LIMIT", "MetaClient", "MetaContentRules", "MetaOAuth", "MetaSettings", "build"]


def build(settings: MetaSettings, http: httpx.AsyncClient) -> PlatformKit:
    """The Meta :class:`PlatformKit`; ``http`` is shared by every call (the caller owns and closes it)."""
    return PlatformKit(
        platform=Platform.META,
        client=MetaClient(settings, http),
        rules=MetaContentRules(),
        oauth=MetaOAuth(settings, http),
    )
