"""X OAuth 2.0: Authorization Code with PKCE (S256), confidential client, rotating refresh tokens.

The flow itself is :class:`~herald.platforms.oauth2.CodeFlowOAuth`; X adds HTTP Basic client authentication, its
token answer and error forms, and ``GET /2/users/me`` (docs/platforms.md, "X: OAuth").
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import httpx

from herald.contracts.platform import Platform
from herald.platforms import http as shared_http
from herald.platforms.base import ErrorClass, Identity, PlatformError, RefreshError, TokenSet
from herald.platforms.oauth2 import ClientAuth, CodeFlowOAuth
from herald.platforms.oauth2 import pkce_pair as pkce_pair  # noqa: PLC0414 (re-export)
from herald.platforms.x.errors import Call, classify, exchange_error, refresh_error, transport_error
from herald.platforms.x.settings import XSettings


class XOAuthClient(CodeFlowOAuth):
    """Connects an X account. Refresh tokens rotate: every refresh returns a new one and the old one dies."""

    platform = Platform.X
    client_auth = ClientAuth.BASIC
    pkce = True  # X requires it
    label = "X"

    def __init__(self, settings: XSettings, http: httpx.AsyncClient) -> None:
        super().__init__(settings, http)
        self.settings = settings
        self.http = http

    async def identities(self, access_token: str) -> list[Identity]:
        """The one X user the token belongs to (``GET /2/users/me``): id and @username."""
        try:
            response = await self.http.get(
                self.settings.api_url("users/me"),
                headers={"Authorization": f"Bearer {access_token}"},
                timeout=self.settings.timeout_seconds,
            )
        except httpx.HTTPError as error:
            raise transport_error(error, Call.READ) from None
        if response.status_code != 200:
            raise classify(response, Call.READ, secrets=[access_token])
        user = response.json()["data"]
        return [Identity(platform_account_id=str(user["id"]), name=str(user["username"]))]

    def _token_set(self, response: httpx.Response, *, refreshing: bool) -> TokenSet:
        body = shared_http.json_object(response)
        if not body.get("access_token"):
            message = "X token endpoint answered without an access_token"
            if refreshing:
                raise RefreshError(message, permanent=False, http_status=response.status_code)
            raise PlatformError(ErrorClass.RETRY_LATER, message, http_status=response.status_code)
        return _token_set(body)

    def _exchange_error(self, response: httpx.Response, secrets: Sequence[str]) -> PlatformError:
        return exchange_error(response, secrets=secrets)

    def _refresh_error(self, response: httpx.Response, secrets: Sequence[str]) -> RefreshError:
        return refresh_error(response, secrets=secrets)

    def _transport_error(self, error: httpx.HTTPError) -> PlatformError:
        return transport_error(error, Call.READ)


def _token_set(body: dict[str, Any]) -> TokenSet:
    """``{"token_type":"bearer","expires_in":7200,"access_token":..,"scope":..,"refresh_token":..}``."""
    expires_in = body.get("expires_in")
    expires_at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=int(expires_in)) if expires_in is not None else None
    return TokenSet(
        access_token=str(body["access_token"]),
        refresh_token=str(body["refresh_token"]) if body.get("refresh_token") else None,
        expires_at=expires_at,
        # X does not document the refresh token's lifetime (docs/platforms.md, "X: OAuth"): none is stored.
        refresh_expires_at=None,
        scopes=tuple(str(body.get("scope") or "").split()),
    )
