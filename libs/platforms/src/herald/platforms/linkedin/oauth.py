"""LinkedIn OAuth 2.0: consent URL (no PKCE for web apps), code exchange, refresh, and who a token can post as."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

import httpx

from herald.contracts.platform import Platform
from herald.platforms.base import ErrorClass, Identity, PlatformError, RefreshError, TokenSet
from herald.platforms.linkedin.errors import classify_response, classify_transport
from herald.platforms.linkedin.restli import rest_headers
from herald.platforms.linkedin.settings import LinkedInSettings
from herald.platforms.linkedin.tokens import exchange_error, refresh_error, token_set
from herald.platforms.oauth2 import ClientAuth, CodeFlowOAuth

PERSON_PREFIX = "urn:li:person:"
ORGANIZATION_PREFIX = "urn:li:organization:"
# Page roles that may post as the organization (docs/platforms.md, "LinkedIn: posting").
POSTING_ROLES = frozenset({"ADMINISTRATOR", "DIRECT_SPONSORED_CONTENT_POSTER", "CONTENT_ADMIN"})


class LinkedInOAuth(CodeFlowOAuth):
    """Client credentials go in the form body (LinkedIn does not use HTTP Basic). Nothing here logs a token.

    The web flow has no PKCE (docs/platforms.md, "LinkedIn: OAuth"). A refresh answer without ``refresh_token``
    comes back as ``None``: keep the old one. Whether LinkedIn returns a new refresh-token string is not certain
    (the TTL does not reset either way), so whatever comes back is returned for the caller to store.
    """

    platform = Platform.LINKEDIN
    client_auth = ClientAuth.FORM
    pkce = False
    label = "LinkedIn"

    def __init__(self, settings: LinkedInSettings, http: httpx.AsyncClient) -> None:
        super().__init__(settings, http)
        self._settings = settings

    async def identities(self, access_token: str) -> list[Identity]:
        """The member (OpenID ``userinfo``) plus the organizations they may post for, when the token can list them."""
        member = await self._member(access_token)
        return [member, *await self._organizations(access_token)]

    def _token_set(self, response: httpx.Response, *, refreshing: bool) -> TokenSet:
        if refreshing:
            return _parsed(response, lambda message: RefreshError(message, permanent=False, http_status=200))
        return _parsed(response, lambda message: PlatformError(ErrorClass.RETRY_LATER, message))

    def _exchange_error(self, response: httpx.Response, secrets: Sequence[str]) -> PlatformError:
        return exchange_error(response)

    def _refresh_error(self, response: httpx.Response, secrets: Sequence[str]) -> RefreshError:
        return refresh_error(response)

    def _transport_error(self, error: httpx.HTTPError) -> PlatformError:
        if isinstance(error, httpx.TransportError):
            return classify_transport(error, creating=False)
        return PlatformError(ErrorClass.RETRY_LATER, f"LinkedIn token endpoint failed ({type(error).__name__})")

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
