"""One authentication mechanism for every public API, and per-service credentials for internal calls.

Team API keys
    ``hk_<key id>_<secret>``. Only a SHA-256 of the secret is stored (the secret is 256 random bits, so a slow
    password hash buys nothing). Keys live in the ``identity`` schema, which this kit owns and migrates; every
    service with a public API checks keys through :func:`team_principal` and sees only its caller's team.
    A key verified against the database is remembered (its SHA-256, never the secret) for a few seconds
    (``HERALD_API_KEY_CACHE_SECONDS``), so a busy client costs no database round trip per request; a key revoked
    elsewhere stops working in that process within that time (at once when revoked through the same store).
Service credentials
    ``svc_<service name>_<secret>``, sent as a bearer token on internal calls. The receiving service is
    configured with the SHA-256 of each caller's secret (``HERALD_SERVICE_CREDENTIALS``), never the secret.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from fastapi import HTTPException, Request, status
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from herald.kit.clock import utc_now
from herald.kit.single_flight import SingleFlight

IDENTITY_SCHEMA = "identity"
IDENTITY_MIGRATIONS = Path(__file__).parent / "identity_migrations"
_API_KEY = re.compile(r"^hk_([a-z0-9]{12})_([A-Za-z0-9_-]{43})$")
_SERVICE_TOKEN = re.compile(r"^svc_([a-z0-9-]+)_([A-Za-z0-9_-]{43})$")
CACHED_KEYS_MAX = 10_000
"""Verified keys remembered per process at most (the oldest is forgotten first)."""


def sha256_hex(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class TeamPrincipal:
    """The caller of a public API: a team, through one of its API keys."""

    team_id: uuid.UUID
    key_id: str

    @property
    def actor(self) -> str:
        return f"api_key:{self.key_id}"


@dataclass(frozen=True)
class ServicePrincipal:
    """The caller of an internal API: another Herald service."""

    service: str

    @property
    def actor(self) -> str:
        return f"service:{self.service}"


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"})


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.headers.get("x-api-key")


@dataclass(frozen=True)
class _Verified:
    secret_sha256: str
    principal: TeamPrincipal
    until: float
    """``time.monotonic()`` after which the database is asked again."""


class ApiKeyStore:
    """Team API keys in the ``identity`` schema.

    ``cache_seconds`` > 0 remembers each key verified against the database for that long, as the SHA-256 of its
    secret (what the database holds), so repeated requests with one key skip the lookup. Only successes are
    remembered: an unknown or wrong key always asks the database.
    """

    def __init__(self, engine: AsyncEngine, *, cache_seconds: float = 0.0) -> None:
        self._engine = engine
        self._cache_seconds = cache_seconds
        self._verified: dict[str, _Verified] = {}
        self._lookups: SingleFlight[tuple[str, str], TeamPrincipal | None] = SingleFlight()

    async def create(
        self, team_id: uuid.UUID, name: str, *, before_commit: KeyHook | None = None
    ) -> tuple[TeamPrincipal, str]:
        """Create a key; the plaintext is returned once and never stored. ``before_commit`` runs (e.g. publishes
        the audit event) before the key exists for anyone else; if it raises, the key is not created."""
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        now = utc_now()
        async with self._engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO identity.api_keys (key_id, team_id, name, secret_sha256, created_at)"
                    " VALUES (:key_id, :team_id, :name, :hash, :now)"
                ),
                {"key_id": key_id, "team_id": team_id, "name": name, "hash": sha256_hex(secret), "now": now},
            )
            if before_commit is not None:
                await before_commit(ApiKeyInfo(key_id, team_id, name, now, None))
        return TeamPrincipal(team_id, key_id), f"hk_{key_id}_{secret}"

    async def verify(self, presented: str) -> TeamPrincipal | None:
        match = _API_KEY.match(presented)
        if match is None:
            return None
        key_id, secret = match.groups()
        digest = sha256_hex(secret)
        known = self._verified.get(key_id)
        if known is not None and known.until > time.monotonic() and hmac.compare_digest(known.secret_sha256, digest):
            return known.principal
        # When the remembered entry expires, every request in flight with the key misses at once: one lookup.
        return await self._lookups.run((key_id, digest), partial(self._look_up, key_id, digest))

    async def _look_up(self, key_id: str, digest: str) -> TeamPrincipal | None:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    text(
                        "SELECT team_id, secret_sha256 FROM identity.api_keys"
                        " WHERE key_id = :key_id AND revoked_at IS NULL"
                    ),
                    {"key_id": key_id},
                )
            ).first()
        if row is None or not hmac.compare_digest(row.secret_sha256, digest):
            self._verified.pop(key_id, None)
            return None
        principal = TeamPrincipal(row.team_id, key_id)
        if self._cache_seconds > 0:
            self._remember(key_id, _Verified(digest, principal, time.monotonic() + self._cache_seconds))
        return principal

    def _remember(self, key_id: str, verified: _Verified) -> None:
        self._verified.pop(key_id, None)  # re-inserted last: the dict's order is the order to forget in
        while len(self._verified) >= CACHED_KEYS_MAX:
            del self._verified[next(iter(self._verified))]
        self._verified[key_id] = verified

    async def revoke(self, key_id: str, *, before_commit: KeyHook | None = None) -> ApiKeyInfo | None:
        """Revoke a key; ``None`` if there is no such key. Revoking a revoked key changes nothing.

        ``before_commit`` runs (e.g. publishes the audit event) with the row locked, only when this call revokes
        it; if it raises, the key stays valid.
        """
        self._verified.pop(key_id, None)
        async with self._engine.begin() as conn:
            row = (
                await conn.execute(
                    text(
                        "SELECT key_id, team_id, name, created_at, revoked_at FROM identity.api_keys"
                        " WHERE key_id = :k FOR UPDATE"
                    ),
                    {"k": key_id},
                )
            ).first()
            if row is None:
                return None
            if row.revoked_at is not None:
                return _info(row)
            revoked = (
                await conn.execute(
                    text(
                        "UPDATE identity.api_keys SET revoked_at = now() WHERE key_id = :k"
                        " RETURNING key_id, team_id, name, created_at, revoked_at"
                    ),
                    {"k": key_id},
                )
            ).one()
            if before_commit is not None:
                await before_commit(_info(revoked))
            return _info(revoked)

    async def list(self, team_id: uuid.UUID | None = None, *, limit: int = 1000) -> list[ApiKeyInfo]:
        """Keys (never their secrets), newest first; one team's when ``team_id`` is given."""
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                text(
                    "SELECT key_id, team_id, name, created_at, revoked_at FROM identity.api_keys"
                    " WHERE CAST(:team AS uuid) IS NULL OR team_id = CAST(:team AS uuid)"
                    " ORDER BY created_at DESC, key_id LIMIT :limit"
                ),
                {"team": team_id, "limit": limit},
            )
            return [_info(row) for row in rows]


@dataclass(frozen=True)
class ApiKeyInfo:
    """What may be shown about a key: everything but its secret."""

    key_id: str
    team_id: uuid.UUID
    name: str
    created_at: dt.datetime
    revoked_at: dt.datetime | None


KeyHook = Callable[[ApiKeyInfo], Awaitable[None]]


def _info(row: Any) -> ApiKeyInfo:
    return ApiKeyInfo(row.key_id, row.team_id, row.name, row.created_at, row.revoked_at)


def team_principal(store: ApiKeyStore) -> Callable[[Request], Awaitable[TeamPrincipal]]:
    """A FastAPI dependency: the calling team, or 401."""

    async def dependency(request: Request) -> TeamPrincipal:
        presented = _bearer(request)
        if not presented:
            raise _unauthorized("missing API key: send 'Authorization: Bearer hk_...'")
        principal = await store.verify(presented)
        if principal is None:
            raise _unauthorized("invalid or revoked API key")
        return principal

    return dependency


def new_service_credential(service: str) -> tuple[str, str]:
    """Return ``(token for the calling service, SHA-256 to configure on the receiving service)``."""
    secret = secrets.token_urlsafe(32)
    return f"svc_{service}_{secret}", sha256_hex(secret)


def service_principal(credentials: Mapping[str, str]) -> Callable[[Request], Awaitable[ServicePrincipal]]:
    """A FastAPI dependency for internal APIs. ``credentials`` maps service name to the SHA-256 of its secret."""

    async def dependency(request: Request) -> ServicePrincipal:
        presented = _bearer(request) or ""
        match = _SERVICE_TOKEN.match(presented)
        if match is None:
            raise _unauthorized("missing or malformed service credential")
        service, secret = match.groups()
        expected = credentials.get(service)
        if expected is None or not hmac.compare_digest(expected, sha256_hex(secret)):
            raise _unauthorized("unknown service credential")
        return ServicePrincipal(service)

    return dependency
