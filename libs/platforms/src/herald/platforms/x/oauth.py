"""X OAuth 2.0: Authorization Code with PKCE (S256), confidential client, rotating refresh tokens."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import secrets
from typing import Any
from urllib.parse import quote, urlencode

import httpx

from herald.contracts.platform import Platform
from herald.platforms.base import AuthorizationRequest, Identity, OAuthClient, RefreshError, TokenSet
from herald.platforms.x.errors import Call, classify, exchange_error, refresh_error, transport_error
from herald.platforms.x.settings import XSettings

VERIFIER_LENGTH = 128  # RFC 7636 allows 43..128; tweepy uses 128 too


def pkce_pair() -> tuple[str, str]:
    """A fresh ``(code_verifier, S256 code_challenge)``."""
    verifier = secrets.token_urlsafe(96)[:VERIFIER_LENGTH]
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class XOAuthClient(OAuthClient):
    """Connects an X account. Refresh tokens rotate: every refresh returns a new one and the old one dies."""

    platform = Platform.X

    def __init__(self, settings: XSettings, http: httpx.AsyncClient) -> None:
        self.settings = settings
        self.http = http

    def authorization_url(self, state: str, redirect_uri: str) -> AuthorizationRequest:
        """The consent URL; keep ``code_verifier`` server-side until the callback (X requires PKCE)."""
        verifier, challenge = pkce_pair()
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.settings.client_id,
                "redirect_uri": redirect_uri,
                "scope": " ".join(self.settings.scopes),
                "state": state,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            },
            quote_via=quote,
        )
        return AuthorizationRequest(url=f"{self.settings.authorize_url}?{query}", code_verifier=verifier)

    async def exchange_code(self, code: str, redirect_uri: str, code_verifier: str | None) -> TokenSet:
        """Trade the callback's code for tokens. Raises :class:`PlatformError` if X refuses."""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": self.settings.client_id,
            "code_verifier": code_verifier or "",
        }
        try:
            response = await self._token_request(form)
        except httpx.HTTPError as error:
            raise transport_error(error, Call.READ) from None
        if response.status_code != 200:
            raise exchange_error(response, secrets=[code, code_verifier or ""])
        return _token_set(response.json())

    async def refresh(self, refresh_token: str) -> TokenSet:
        """Refresh; the returned :class:`TokenSet` carries the NEW refresh token, which must be stored at once."""
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": self.settings.client_id}
        try:
            response = await self._token_request(form)
        except httpx.HTTPError as error:
            raise RefreshError(f"X token endpoint unreachable ({type(error).__name__})", permanent=False) from None
        if response.status_code != 200:
            raise refresh_error(response, secrets=[refresh_token])
        return _token_set(response.json())

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

    async def _token_request(self, form: dict[str, str]) -> httpx.Response:
        return await self.http.post(
            self.settings.token_url,
            data=form,
            auth=httpx.BasicAuth(self.settings.client_id, self.settings.client_secret.get_secret_value()),
            timeout=self.settings.timeout_seconds,
        )


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
