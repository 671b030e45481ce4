"""The publisher's view of the token service: a usable access token per account, cached briefly.

Calls the token service's internal API with this publisher's own service credential. A token is cached until
shortly before it expires (the burst benchmark would otherwise make one HTTP call per post) and dropped as soon as
the platform rejects it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import uuid
from dataclasses import dataclass, field
from functools import partial

import httpx

from herald.kit.clock import Clock, utc_now
from herald.kit.single_flight import SingleFlight

log = logging.getLogger(__name__)

EXPIRY_MARGIN = dt.timedelta(seconds=60)


@dataclass(frozen=True)
class AccessToken:
    account_id: uuid.UUID
    platform_account_id: str
    access_token: str = field(repr=False)
    expires_at: dt.datetime | None


class TokenUnavailable(Exception):
    """The token service could not give a token now (it is down, or a refresh failed transiently)."""

    def __init__(self, message: str, retry_after_seconds: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class ReauthRequired(Exception):
    """The account must be reconnected by a human (or was disconnected)."""


class TokenClient:
    def __init__(
        self,
        http: httpx.AsyncClient,
        base_url: str,
        credential: str,
        cache_seconds: float = 300,
        clock: Clock = utc_now,
    ) -> None:
        self._http = http
        self._base_url = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {credential}"}
        self._cache_ttl = dt.timedelta(seconds=cache_seconds)
        self._cache: dict[uuid.UUID, tuple[AccessToken, dt.datetime]] = {}
        self._fetches: SingleFlight[uuid.UUID, AccessToken] = SingleFlight()
        self._clock = clock

    async def get(self, account_id: uuid.UUID) -> AccessToken:
        now = self._clock()
        cached = self._cache.get(account_id)
        if cached is not None:
            token, fetched_at = cached
            fresh = token.expires_at is None or token.expires_at - EXPIRY_MARGIN > now
            if fresh and now - fetched_at < self._cache_ttl:
                return token
        # The deliveries in flight for an account whose token is not cached (the first of a burst, or expired) ask
        # the token service once between them.
        path = f"/internal/v1/accounts/{account_id}/access-token"
        return await self._fetches.run(account_id, partial(self._call, "GET", path, account_id))

    async def refresh(self, rejected: AccessToken) -> AccessToken:
        """Force a refresh after the platform rejected ``rejected`` (single-flight on the service side)."""
        self._cache.pop(rejected.account_id, None)
        digest = hashlib.sha256(rejected.access_token.encode()).hexdigest()
        return await self._call(
            "POST",
            f"/internal/v1/accounts/{rejected.account_id}/refresh",
            rejected.account_id,
            json={"rejected_access_token_sha256": digest},
        )

    async def report_reauth_required(self, rejected: AccessToken, reason: str) -> None:
        """Tell the token service the platform refused the grant, so it flags the account once and later posts
        stop at the token service instead of each calling the platform. Best effort: the post fails either way."""
        self._cache.pop(rejected.account_id, None)
        digest = hashlib.sha256(rejected.access_token.encode()).hexdigest()
        url = f"{self._base_url}/internal/v1/accounts/{rejected.account_id}/reauth-required"
        try:
            response = await self._http.post(
                url, headers=self._headers, json={"rejected_access_token_sha256": digest, "reason": reason[:500]}
            )
        except httpx.HTTPError as exc:
            log.warning("could not report reauth-required to the token service", extra={"error": type(exc).__name__})
            return
        if response.status_code >= 300:
            log.warning("token service refused the reauth-required report", extra={"status": response.status_code})

    async def _call(
        self, method: str, path: str, account_id: uuid.UUID, json: dict[str, str] | None = None
    ) -> AccessToken:
        try:
            response = await self._http.request(method, self._base_url + path, headers=self._headers, json=json)
        except httpx.HTTPError as exc:
            raise TokenUnavailable(f"token service unreachable: {type(exc).__name__}") from None
        if response.status_code == 409:
            raise ReauthRequired(str(response.json().get("detail", "reauth required")))
        if response.status_code == 404:
            raise ReauthRequired(f"account {account_id} is unknown to the token service (never connected, or deleted)")
        if response.status_code in (401, 403):
            # Our credential or platform does not match: waiting does not heal it.
            raise ReauthRequired(f"token service answered {response.status_code} for account {account_id}")
        if response.status_code != 200:
            retry_after = response.headers.get("retry-after")
            raise TokenUnavailable(
                f"token service answered {response.status_code}",
                float(retry_after) if retry_after and retry_after.isdigit() else None,
            )
        body = response.json()
        token = AccessToken(
            account_id=account_id,
            platform_account_id=body["platform_account_id"],
            access_token=body["access_token"],
            expires_at=dt.datetime.fromisoformat(body["expires_at"]) if body.get("expires_at") else None,
        )
        self._cache[account_id] = (token, self._clock())
        return token
