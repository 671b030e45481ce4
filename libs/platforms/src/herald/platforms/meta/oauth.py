"""Facebook Login for Pages: no PKCE, no refresh grant, Page tokens from ``/me/accounts`` (docs/platforms.md,
"Meta: OAuth").

* ``authorization_url``: the Login dialog, scopes comma-separated.
* ``exchange_code``: code → short-lived user token (~1 h) → long-lived user token (~60 days, ``fb_exchange_token``).
* ``refresh``: Meta has no refresh grant; "refreshing" re-runs ``fb_exchange_token`` on a still-valid long-lived
  user token. A dead token is code 190 → :class:`RefreshError` ``permanent``.
* ``identities``: one :class:`Identity` per Page the user can create content on, each with its Page token (no
  expiry: Page tokens obtained from a long-lived user token do not expire until revoked).
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode

import httpx

from herald.contracts.media import Surface
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
from herald.platforms.meta.settings import MetaSettings
from herald.platforms.meta.transport import GraphTransport, next_page, segment

ACCOUNT_FIELDS = "id,name,access_token,tasks"
INSTAGRAM_FIELDS = "instagram_business_account{id,username}"
PUBLISH_TASK = "CREATE_CONTENT"
MAX_ACCOUNT_PAGES = 50  # of 100 Pages each: a bound against a paging loop
# Error classes that mean "this token will never work again" at the token endpoint.
_PERMANENT = frozenset({ErrorClass.RECONNECT, ErrorClass.PERMANENT, ErrorClass.DUPLICATE})


class MetaOAuth(OAuthClient):
    """Connects a Facebook user and lists the Pages Herald can publish as."""

    platform = Platform.META

    def __init__(self, settings: MetaSettings, http: httpx.AsyncClient) -> None:
        self._settings = settings
        self._graph = GraphTransport(settings, http)

    def authorization_url(self, state: str, redirect_uri: str) -> AuthorizationRequest:
        query = {
            "client_id": self._settings.client_id,
            "redirect_uri": redirect_uri,
            "state": state,
            "response_type": "code",
            "scope": ",".join(self._settings.scopes),
        }
        return AuthorizationRequest(url=f"{self._settings.dialog_url()}?{urlencode(query)}")

    async def exchange_code(self, code: str, redirect_uri: str, code_verifier: str | None) -> TokenSet:
        """Both exchanges; the result is the long-lived user token. Failures raise :class:`PlatformError`."""
        short = await self._token_call({"redirect_uri": redirect_uri, "code": code}, code)
        token = short.get("access_token")
        if not isinstance(token, str) or not token:
            raise PlatformError(ErrorClass.RETRY_LATER, "Meta code exchange answered without an access_token")
        return await self._long_lived(token)

    async def refresh(self, refresh_token: str) -> TokenSet:
        """Re-exchange a long-lived user token (``grant_type=fb_exchange_token``) for a fresh one."""
        try:
            return await self._long_lived(refresh_token)
        except PlatformError as exc:
            raise RefreshError(
                exc.message,
                permanent=exc.error_class in _PERMANENT,
                configuration=exc.error_class is ErrorClass.CONFIGURATION,
                http_status=exc.http_status,
            ) from None

    async def identities(self, access_token: str) -> list[Identity]:
        """``GET /{version}/me/accounts``: the Pages of this user, with their Page tokens; after each Page, the
        Instagram professional account linked to it (``GET /{page-id}?fields=instagram_business_account{id,username}``
        with the Page token), published with that same Page token."""
        url = self._settings.graph("me", "accounts")
        params: dict[str, str] | None = {"fields": ACCOUNT_FIELDS, "limit": "100"}
        found: list[Identity] = []
        for _ in range(MAX_ACCOUNT_PAGES):
            if params is None:
                break
            body = await self._graph.call("GET", url, access_token, params=params)
            data = body.get("data")
            pages = data if isinstance(data, list) else []
            for page in pages:
                if _can_publish(page):
                    identity = _identity(page)
                    found.append(identity)
                    found.extend(await self._instagram(identity))
            params = next_page(body)
        return found

    async def _instagram(self, page: Identity) -> list[Identity]:
        """The Instagram account linked to ``page``, if any (docs/platforms.md, "Instagram: connecting")."""
        assert page.page_token is not None
        url = self._settings.graph(segment(page.platform_account_id))
        try:
            body = await self._graph.call("GET", url, page.page_token.access_token, params={"fields": INSTAGRAM_FIELDS})
        except PlatformError as exc:
            if exc.error_class is ErrorClass.PERMANENT:  # e.g. instagram_basic not granted: the Page still connects
                return []
            raise
        linked = body.get("instagram_business_account")
        if not isinstance(linked, dict) or not linked.get("id"):
            return []
        return [
            Identity(
                platform_account_id=str(linked["id"]),
                name=str(linked.get("username") or linked["id"]),
                page_token=page.page_token,
                surface=Surface.INSTAGRAM,
            )
        ]

    async def _long_lived(self, token: str) -> TokenSet:
        body = await self._token_call({"grant_type": "fb_exchange_token", "fb_exchange_token": token}, token)
        access_token = body.get("access_token")
        if not isinstance(access_token, str) or not access_token:
            raise PlatformError(ErrorClass.RETRY_LATER, "Meta token exchange answered without an access_token")
        return TokenSet(access_token=access_token, expires_at=_expires_at(body.get("expires_in")))

    async def _token_call(self, params: dict[str, str], secret_param: str) -> dict[str, Any]:
        """``GET /{version}/oauth/access_token`` with the app credentials (Meta's documented form)."""
        secret = self._settings.client_secret.get_secret_value()
        query = {"client_id": self._settings.client_id, "client_secret": secret, **params}
        return await self._graph.send(
            "GET", self._settings.access_token_url(), params=query, secrets=(secret, secret_param)
        )


def _expires_at(expires_in: Any) -> dt.datetime | None:
    if isinstance(expires_in, int) and not isinstance(expires_in, bool) and expires_in > 0:
        return dt.datetime.now(dt.UTC) + dt.timedelta(seconds=expires_in)
    return None


def _can_publish(page: Any) -> bool:
    if not isinstance(page, dict) or not page.get("id") or not page.get("access_token"):
        return False
    tasks = page.get("tasks")
    return tasks is None or (isinstance(tasks, list) and PUBLISH_TASK in tasks)


def _identity(page: dict[str, Any]) -> Identity:
    return Identity(
        platform_account_id=str(page["id"]),
        name=str(page.get("name", "")),
        page_token=TokenSet(access_token=str(page["access_token"])),
        surface=Surface.FACEBOOK_PAGE,
    )
