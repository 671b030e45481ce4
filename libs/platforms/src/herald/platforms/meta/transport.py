"""One Graph API call: token parameters, timeout, and turning every failure into a :class:`PlatformError`.

The token travels as the documented ``access_token`` parameter (in the form body for POSTs, so a create's URL
carries no secret); ``Authorization: Bearer`` is also accepted by Graph but not documented for these endpoints
(docs/platforms.md, "Meta: posting").
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import httpx

from herald.platforms.base import ErrorClass, PlatformError
from herald.platforms.meta.errors import GraphError, classify_response, classify_transport, response_json
from herald.platforms.meta.settings import MetaSettings

_PAGING_PARAMS_DROPPED = frozenset({"access_token", "appsecret_proof"})


class GraphTransport:
    """Sends Graph calls through the shared ``httpx.AsyncClient`` (never one per call)."""

    def __init__(self, settings: MetaSettings, http: httpx.AsyncClient) -> None:
        self.settings = settings
        self._http = http

    def auth_params(self, access_token: str) -> dict[str, str]:
        """``access_token`` as a parameter (the documented form) plus ``appsecret_proof`` when enabled."""
        params = {"access_token": access_token}
        secret = self.settings.client_secret.get_secret_value()
        if self.settings.appsecret_proof and secret:
            params["appsecret_proof"] = appsecret_proof(secret, access_token)
        return params

    def secrets(self, access_token: str) -> tuple[str, ...]:
        """Everything that must never appear in a message or excerpt."""
        auth = self.auth_params(access_token)
        return (access_token, auth.get("appsecret_proof", ""), self.settings.client_secret.get_secret_value())

    async def call(
        self,
        method: str,
        url: str,
        access_token: str,
        *,
        create: bool = False,
        params: dict[str, str] | None = None,
        data: dict[str, str] | None = None,
        files: dict[str, tuple[str, bytes, str]] | None = None,
        fetches: bool = False,
    ) -> dict[str, Any]:
        """Send one call authenticated with ``access_token``; return the JSON object or raise ``PlatformError``.

        ``files`` makes the POST a multipart form (``data`` as its fields). ``fetches``: the platform fetches a media
        URL inside this call, so it gets ``fetch_timeout_seconds`` instead of ``timeout_seconds``."""
        auth = self.auth_params(access_token)
        if data is not None:
            data = {**data, **auth}  # POST: the token travels in the form body, not the URL
        else:
            params = {**(params or {}), **auth}
        return await self.send(
            method,
            url,
            create=create,
            params=params,
            data=data,
            files=files,
            secrets=self.secrets(access_token),
            timeout_seconds=self.settings.fetch_timeout_seconds if fetches else None,
        )

    async def send(
        self,
        method: str,
        url: str,
        *,
        create: bool = False,
        params: dict[str, str] | None = None,
        data: dict[str, str] | None = None,
        files: dict[str, tuple[str, bytes, str]] | None = None,
        secrets: tuple[str, ...] = (),
        timeout_seconds: float | None = None,
    ) -> dict[str, Any]:
        """Send a prepared call. Non-2xx, ``error`` bodies and non-object bodies all raise ``PlatformError``.

        ``timeout_seconds``: this call's, if not the settings' ``timeout_seconds``."""
        timeout = timeout_seconds or self.settings.timeout_seconds
        try:
            response = await self._http.request(method, url, params=params, data=data, files=files, timeout=timeout)
        except httpx.TransportError as exc:
            raise classify_transport(exc, create=create) from None
        body = response_json(response)
        if not response.is_success or GraphError.parse(body) is not None:
            raise classify_response(response, create=create, secrets=secrets)
        if not isinstance(body, dict):
            # A 2xx we cannot read: for a create we do not know what happened.
            error_class = ErrorClass.UNKNOWN_OUTCOME if create else ErrorClass.RETRY_LATER
            raise PlatformError(
                error_class,
                f"Meta answered HTTP {response.status_code} without a JSON object",
                http_status=response.status_code,
            )
        return body


def appsecret_proof(app_secret: str, access_token: str) -> str:
    """``appsecret_proof`` = hex HMAC-SHA256 of the access token keyed with the app secret."""
    return hmac.new(app_secret.encode(), access_token.encode(), hashlib.sha256).hexdigest()


def next_page(body: dict[str, Any]) -> dict[str, str] | None:
    """The query of ``paging.next`` (cursor or time based), re-sent by us to our own URL with our own token.

    Graph's ``next`` URL embeds the access token; it is never followed as-is (nor logged).
    """
    paging = body.get("paging")
    next_url = paging.get("next") if isinstance(paging, dict) else None
    if not isinstance(next_url, str) or not next_url:
        return None
    query = parse_qsl(urlsplit(next_url).query, keep_blank_values=True)
    return {key: value for key, value in query if key not in _PAGING_PARAMS_DROPPED}


def segment(value: str) -> str:
    """``value`` as one URL path segment (ids come from storage: quote them all the same)."""
    return quote(value, safe="")
