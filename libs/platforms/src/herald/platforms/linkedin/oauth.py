"""LinkedIn OAuth 2.0: consent URL (no PKCE for web apps), code exchange, refresh, and who a token can post as."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlencode

import httpx

from herald.contracts.platform import Platform
from herald.platforms.base import (
    AuthorizationRequest,
    ErrorClass,
    Identity,
    OAuthClient,
    PlatformError,
    RefreshError,
    TokenSet,
)
from herald.platforms.linkedin.errors import classify_response, classify_transport
from herald.platforms.linkedin.restli import rest_headers
from herald.platforms.linkedin.settings import LinkedInSettings
from herald.platforms.linkedin.tokens import exchange_error, refresh_error, token_set

PERSON_PREFIX = "urn:li:person:"
ORGANIZATION_PREFIX = "urn:li:organization:"
# Page roles that may post as the organization (docs/platforms.md, "LinkedIn: posting").
POSTING_ROLES = frozenset({"ADMINISTRATOR", "DIRECT_SPONSORED_CONTENT_POSTER", "CONTENT_ADMIN"})


class LinkedInOAuth(OAuthClient):
    """Client credentials go in the form body (LinkedIn does not use HTTP Basic). Nothing here logs a token."""

    platform = Platform.LINKEDIN

    def __init__(self, settings: LinkedInSettings, http: httpx.AsyncClient) -> None:
        self._settings = settings
        self._http = http

    def authorization_url(self, state: str, redirect_uri: str) -> AuthorizationRequest:
        # The web flow has no PKCE (docs/platforms.md, "LinkedIn: OAuth").
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self._settings.client_id,
                "redirect_uri": redirect_uri,
                "state": state,
                "scope": " ".join(self._settings.scopes),
            },
            quote_via=quote,
        )
        return AuthorizationRequest(url=f"{self._settings.authorize_url}?{query}")

    async def exchange_code(self, code: str, redirect_uri: str, code_verifier: str | None) -> TokenSet:
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
        if code_verifier:
            form["code_verifier"] = code_verifier
        try:
            response = await self._token_request(form)
        except httpx.TransportError as error:
            raise classify_transport(error, creating=False) from error
        if response.status_code != 200:
            raise exchange_error(response)
        return _parsed(response, lambda message: PlatformError(ErrorClass.RETRY_LATER, message))

    async def refresh(self, refresh_token: str) -> TokenSet:
        """Refresh. A missing ``refresh_token`` in the answer comes back as ``None``: keep the old one.

        Whether LinkedIn returns a new refresh-token string is not certain (docs/platforms.md, "LinkedIn: OAuth"; the
        TTL does not reset either way), so whatever comes back is returned for the caller to store.
        """
        try:
            response = await self._token_request({"grant_type": "refresh_token", "refresh_token": refresh_token})
        except httpx.TransportError as error:
            raise RefreshError(
                f"LinkedIn token endpoint unreachable ({type(error).__name__})", permanent=False
            ) from error
        if response.status_code != 200:
            raise refresh_error(response)
        return _parsed(response, lambda message: RefreshError(message, permanent=False, http_status=200))

    async def identities(self, access_token: str) -> list[Identity]:
        """The member (OpenID ``userinfo``) plus the organizations they may post for, when the token can list them."""
        member = await self._member(access_token)
        return [member, *await self._organizations(access_token)]

    async def _token_request(self, form: dict[str, str]) -> httpx.Response:
        secret = self._settings.client_secret.get_secret_value()
        return await self._http.post(
            self._settings.token_url,
            data={**form, "client_id": self._settings.client_id, "client_secret": secret},
            headers={"Accept": "application/json"},
            timeout=self._settings.timeout_seconds,
        )

    async def _member(self, access_token: str) -> Identity:
        data = await self._get_json(f"{self._settings.v2_url}/userinfo", access_token, {})
        sub = data.get("sub")
        if not isinstance(sub, str) or not sub:
            raise PlatformError(ErrorClass.RETRY_LATER, "LinkedIn userinfo answered without a member id (sub)")
        return Identity(platform_account_id=f"{PERSON_PREFIX}{sub}", name=str(data.get("name") or sub))

    async def _organizations(self, access_token: str) -> list[Identity]:
        """``GET /rest/organizationAcls?q=roleAssignee`` needs ``rw_organization_admin``; without it, no pages."""
        url = f"{self._settings.rest_url}/organizationAcls?q=roleAssignee&state=APPROVED&count=100"
        response = await self._get(url, access_token, rest_headers(self._settings, access_token, method="FINDER"))
        if response.status_code == 403:
            return []
        data = _json_or_raise(response, access_token)
        urns = sorted({str(e["organization"]) for e in data.get("elements", []) if e.get("role") in POSTING_ROLES})
        return [await self._organization(urn, access_token) for urn in urns]

    async def _organization(self, urn: str, access_token: str) -> Identity:
        org_id = urn.removeprefix(ORGANIZATION_PREFIX)
        headers = rest_headers(self._settings, access_token)
        data = await self._get_json(f"{self._settings.rest_url}/organizations/{org_id}", access_token, headers)
        return Identity(platform_account_id=urn, name=str(data.get("localizedName") or urn))

    async def _get_json(self, url: str, access_token: str, headers: dict[str, str]) -> dict[str, Any]:
        return _json_or_raise(await self._get(url, access_token, headers), access_token)

    async def _get(self, url: str, access_token: str, headers: dict[str, str]) -> httpx.Response:
        headers = {"Authorization": f"Bearer {access_token}", **headers}
        try:
            return await self._http.get(url, headers=headers, timeout=self._settings.timeout_seconds)
        except httpx.TransportError as error:
            raise classify_transport(error, creating=False) from error


def _json_or_raise(response: httpx.Response, access_token: str) -> dict[str, Any]:
    if response.status_code != 200:
        raise classify_response(response, creating=False, secrets=(access_token,))
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise PlatformError(ErrorClass.RETRY_LATER, "LinkedIn answered with an unexpected body")
    return data


def _parsed(response: httpx.Response, failure: Callable[[str], Exception]) -> TokenSet:
    try:
        return token_set(response.json(), dt.datetime.now(dt.UTC))
    except (ValueError, AttributeError) as error:
        raise failure("LinkedIn token answer could not be read") from error
