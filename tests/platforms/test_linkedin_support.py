"""Helpers shared by the LinkedIn test modules (no tests here): sandbox settings, token minting, accounts."""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import SecretStr

from herald.platforms.linkedin import LinkedInSettings

MEMBER = "sandbox-member"
MEMBER_URN = f"urn:li:person:{MEMBER}"
ORGANIZATION_URN = "urn:li:organization:1001"  # administered by MEMBER in the default sandbox config
CLIENT_ID = "herald-dev"
CLIENT_SECRET = "herald-dev-secret"
BASE_SCOPES = ("openid", "profile", "w_member_social")
READ_BACK_SCOPES = (*BASE_SCOPES, "r_member_social")
ORGANIZATION_SCOPES = (*BASE_SCOPES, "w_organization_social", "r_organization_social", "rw_organization_admin")
VERSION = "202607"


def sandbox_settings(base_url: str, *, timeout: float = 1.0, **overrides: Any) -> LinkedInSettings:
    """Settings pointing every LinkedIn URL at a sandbox served at ``base_url``."""
    return LinkedInSettings(
        client_id=CLIENT_ID,
        client_secret=SecretStr(CLIENT_SECRET),
        api_base_url=base_url,
        authorize_url=f"{base_url}/oauth/v2/authorization",
        token_url=f"{base_url}/oauth/v2/accessToken",
        timeout_seconds=timeout,
        **overrides,
    )


async def mint(control: httpx.AsyncClient, scopes: tuple[str, ...], account: str = MEMBER) -> dict[str, Any]:
    """A token pair for ``account`` without the consent dance (``POST /_sandbox/tokens``)."""
    response = await control.post("/_sandbox/tokens", json={"account": account, "scopes": list(scopes)})
    response.raise_for_status()
    minted: dict[str, Any] = response.json()
    return minted


def rest_headers(token: str, version: str = VERSION) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {token}",
        "LinkedIn-Version": version,
        "X-Restli-Protocol-Version": "2.0.0",
    }


def post_body(text: str, author: str = MEMBER_URN, **extra: Any) -> dict[str, Any]:
    return {
        "author": author,
        "commentary": text,
        "visibility": "PUBLIC",
        "distribution": {"feedDistribution": "MAIN_FEED", "targetEntities": [], "thirdPartyDistributionChannels": []},
        "lifecycleState": "PUBLISHED",
        "isReshareDisabledByAuthor": False,
        **extra,
    }
