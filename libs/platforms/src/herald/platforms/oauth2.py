"""The OAuth 2.0 authorization code flow (RFC 6749 section 4.1) that X and LinkedIn share.

The shared part: the consent URL (with PKCE S256 where the platform wants it, RFC 7636), the form POSTs to the token
endpoint for a code exchange and a refresh, client authentication (HTTP Basic or in the form body, RFC 6749 section
2.3.1), and turning transport failures into Herald's error types. A platform supplies how it reads a token answer
and how it classifies a refusal. Meta's Login is not this flow (no refresh grant, GET exchanges), so it has its own.

Authlib's httpx client was considered: it raises one ``OAuthError`` that drops the HTTP status, which the
classifiers need (a 401 is the client, a 400 the grant), so wrapping it would not make either platform smaller.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from abc import abstractmethod
from collections.abc import Sequence
from enum import StrEnum
from typing import Protocol
from urllib.parse import quote, urlencode

import httpx
from pydantic import SecretStr

from herald.platforms.base import AuthorizationRequest, OAuthClient, PlatformError, RefreshError, TokenSet

VERIFIER_LENGTH = 128  # RFC 7636 allows 43..128; tweepy uses 128 too


class ClientAuth(StrEnum):
    """Where the client secret goes (RFC 6749 section 2.3.1)."""

    BASIC = "basic"  # Authorization: Basic (X)
    FORM = "form"  # client_id and client_secret in the form body (LinkedIn)


class CodeFlowSettings(Protocol):
    """The settings a code flow reads (each platform's settings class has them)."""

    @property
    def authorize_url(self) -> str: ...
    @property
    def token_url(self) -> str: ...
    @property
    def client_id(self) -> str: ...
    @property
    def client_secret(self) -> SecretStr: ...
    @property
    def scopes(self) -> tuple[str, ...]: ...
    @property
    def timeout_seconds(self) -> float: ...


def pkce_pair() -> tuple[str, str]:
    """A fresh ``(code_verifier, S256 code_challenge)``."""
    verifier = secrets.token_urlsafe(96)[:VERIFIER_LENGTH]
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class CodeFlowOAuth(OAuthClient):
    """An :class:`OAuthClient` for a platform using the plain authorization code flow. Nothing here logs a secret."""

    client_auth: ClientAuth
    pkce: bool
    label: str
    """The platform's name in messages ("X", "LinkedIn")."""

    def __init__(self, settings: CodeFlowSettings, http: httpx.AsyncClient) -> None:
        self._flow = settings
        self._http = http

    def authorization_url(self, state: str, redirect_uri: str) -> AuthorizationRequest:
        """The consent URL; with PKCE, keep ``code_verifier`` server-side until the callback."""
        query = {
            "response_type": "code",
            "client_id": self._flow.client_id,
            "redirect_uri": redirect_uri,
            "scope": " ".join(self._flow.scopes),
            "state": state,
        }
        verifier = None
        if self.pkce:
            verifier, challenge = pkce_pair()
            query |= {"code_challenge": challenge, "code_challenge_method": "S256"}
        url = f"{self._flow.authorize_url}?{urlencode(query, quote_via=quote)}"
        return AuthorizationRequest(url=url, code_verifier=verifier)

    async def exchange_code(self, code: str, redirect_uri: str, code_verifier: str | None) -> TokenSet:
        """Trade the callback's code for tokens. Raises :class:`PlatformError` if the platform refuses."""
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
        if code_verifier:
            form["code_verifier"] = code_verifier
        try:
            response = await self._token_request(form)
        except httpx.HTTPError as error:
            raise self._transport_error(error) from None
        if response.status_code != 200:
            raise self._exchange_error(response, (code, code_verifier or ""))
        return self._token_set(response, refreshing=False)

    async def refresh(self, refresh_token: str) -> TokenSet:
        """Refresh. The answer's refresh token (new if the platform rotates them) must be stored at once."""
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        try:
            response = await self._token_request(form)
        except httpx.HTTPError as error:
            message = f"{self.label} token endpoint unreachable ({type(error).__name__})"
            raise RefreshError(message, permanent=False) from None
        if response.status_code != 200:
            raise self._refresh_error(response, (refresh_token,))
        return self._token_set(response, refreshing=True)

    async def _token_request(self, form: dict[str, str]) -> httpx.Response:
        secret = self._flow.client_secret.get_secret_value()
        form = {**form, "client_id": self._flow.client_id}
        headers = {"Accept": "application/json"}
        if self.client_auth is ClientAuth.BASIC:
            basic = httpx.BasicAuth(self._flow.client_id, secret)
            return await self._http.post(
                self._flow.token_url, data=form, auth=basic, headers=headers, timeout=self._flow.timeout_seconds
            )
        form["client_secret"] = secret
        return await self._http.post(
            self._flow.token_url, data=form, headers=headers, timeout=self._flow.timeout_seconds
        )

    @abstractmethod
    def _token_set(self, response: httpx.Response, *, refreshing: bool) -> TokenSet:
        """Read a 200 answer. Raise :class:`PlatformError` (exchange) or :class:`RefreshError` (refresh) if it
        cannot be read."""

    @abstractmethod
    def _exchange_error(self, response: httpx.Response, secrets: Sequence[str]) -> PlatformError:
        """Classify a refused code exchange (never containing one of ``secrets``)."""

    @abstractmethod
    def _refresh_error(self, response: httpx.Response, secrets: Sequence[str]) -> RefreshError:
        """Classify a refused refresh (never containing one of ``secrets``)."""

    @abstractmethod
    def _transport_error(self, error: httpx.HTTPError) -> PlatformError:
        """Classify a code exchange that got no answer."""
