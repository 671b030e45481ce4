"""Connecting accounts: the OAuth authorization-code flow, with a signed, single-use, expiring state.

``start``
    Creates the state ``<nonce>.<key id>.<HMAC(platform:nonce)>`` and stores, keyed by the SHA-256 of the nonce,
    the team, the redirect URI and (X) the PKCE verifier, encrypted. Returns the platform's consent URL.
``complete``
    Checks the signature (a forged state is refused without touching the database), consumes the stored state
    in one conditional UPDATE (a second use finds nothing), checks its expiry, exchanges the code, asks the
    platform who the token can publish as, and stores one account per identity: Meta gives one per Page, each
    with its own Page token; LinkedIn the member plus the organizations they administer; X the user. Each stored
    account emits :class:`~herald.contracts.accounts.AccountConnected` through the outbox.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
import secrets
import time
import uuid
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urlsplit

import httpx
from sqlalchemy.ext.asyncio import AsyncConnection

from herald.contracts.platform import Platform
from herald.kit.auth import TeamPrincipal
from herald.kit.logging import redact
from herald.platforms.base import ErrorClass, Identity, OAuthClient, PlatformError, TokenSet
from herald.tokens import events, repository
from herald.tokens.crypto import DecryptionFailed
from herald.tokens.errors import (
    AuthorizationDenied,
    ConnectFailed,
    ConnectNotConfigured,
    InvalidRedirectUri,
    InvalidState,
    PlatformNotConfigured,
)
from herald.tokens.events import Cause
from herald.tokens.models import AccountRow, AccountStatus, StateRow
from herald.tokens.service import TokenContext
from herald.tokens.settings import TokensSettings

log = logging.getLogger(__name__)

T = TypeVar("T")
# A refused client (CONFIGURATION) is not the user's doing: "try again later" while an operator fixes it.
_TRANSIENT = frozenset({ErrorClass.RETRY_LATER, ErrorClass.UNKNOWN_OUTCOME, ErrorClass.CONFIGURATION})


@dataclass(frozen=True)
class ConnectPolicy:
    """Where callbacks go and how long a state lives (from :class:`TokensSettings`)."""

    callback_urls: Mapping[Platform, str]
    allowed_redirect_uris: frozenset[str]
    state_ttl_seconds: float
    timeout_seconds: float
    require_allow_list: bool = False
    """Refuse to start a connect flow while ``allowed_redirect_uris`` is empty (every environment but development)."""

    @classmethod
    def from_settings(cls, settings: TokensSettings) -> ConnectPolicy:
        return cls(
            callback_urls={platform: settings.callback_url(platform) for platform in Platform},
            allowed_redirect_uris=frozenset(settings.allowed_redirect_uris),
            state_ttl_seconds=settings.oauth_state_ttl_seconds,
            timeout_seconds=settings.refresh_timeout_seconds,
            require_allow_list=not settings.is_development,
        )


@dataclass(frozen=True)
class AuthorizationStart:
    authorization_url: str
    state: str
    expires_at: dt.datetime


def state_key(nonce: str) -> str:
    return hashlib.sha256(nonce.encode()).hexdigest()


class ConnectService:
    """Starts and completes connects; the only place that stores new grants."""

    def __init__(self, context: TokenContext, policy: ConnectPolicy) -> None:
        self._ctx = context
        self._policy = policy

    def _client(self, platform: Platform) -> OAuthClient:
        client = self._ctx.oauth.get(platform)
        if client is None:
            raise PlatformNotConfigured(platform)
        return client

    async def start(self, team: TeamPrincipal, platform: Platform, redirect_uri: str | None) -> AuthorizationStart:
        """The consent URL for ``platform``, with a fresh state bound to ``team``."""
        if self._policy.require_allow_list and not self._policy.allowed_redirect_uris:
            raise ConnectNotConfigured(
                "connecting accounts is disabled: set HERALD_ALLOWED_REDIRECT_URIS (the redirect URIs this deployment"
                " may send users back to) outside development"
            )
        client = self._client(platform)
        redirect = self._redirect_uri(platform, redirect_uri)
        nonce = secrets.token_urlsafe(32)
        state = f"{nonce}.{self._ctx.ring.sign(f'{platform.value}:{nonce}')}"
        request = client.authorization_url(state, redirect)
        key = state_key(nonce)
        now = self._ctx.clock()
        expires_at = now + dt.timedelta(seconds=self._policy.state_ttl_seconds)
        verifier = (
            self._ctx.ring.encrypt(request.code_verifier, owner=key, field="code_verifier")
            if request.code_verifier
            else None
        )
        values = {
            "id": key,
            "team_id": team.team_id,
            "platform": platform.value,
            "redirect_uri": redirect,
            "code_verifier": verifier,
            "actor": team.actor,
            "created_at": now,
            "expires_at": expires_at,
        }
        async with self._ctx.engine.begin() as conn:
            await repository.insert_state(conn, values)
        return AuthorizationStart(request.url, state, expires_at)

    def _redirect_uri(self, platform: Platform, redirect_uri: str | None) -> str:
        default = self._policy.callback_urls[platform]
        if redirect_uri is None or redirect_uri == default:
            return default
        try:
            parts = urlsplit(redirect_uri)
        except ValueError:  # e.g. an unterminated IPv6 literal
            raise InvalidRedirectUri("redirect_uri is not a valid URL") from None
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.fragment:
            raise InvalidRedirectUri("redirect_uri must be an absolute http(s) URL without a fragment")
        if self._policy.allowed_redirect_uris and redirect_uri not in self._policy.allowed_redirect_uris:
            raise InvalidRedirectUri("redirect_uri is not one of this deployment's allowed redirect URIs")
        return redirect_uri

    async def complete(
        self, platform: Platform, *, code: str | None, state: str, error: str | None = None, description: str = ""
    ) -> list[AccountRow]:
        """The callback: check and consume the state, exchange the code, store one account per identity."""
        stored_state = await self._consume(platform, state)
        if error:
            raise AuthorizationDenied(redact(f"the platform answered {error}: {description}"[:300]))
        if not code:
            raise AuthorizationDenied("the callback carries no authorization code")
        client = self._client(platform)
        verifier = self._verifier(stored_state)
        tokens = await self._platform_call(
            platform, "authorization_code", client.exchange_code(code, stored_state.redirect_uri, verifier)
        )
        identities = await self._platform_call(platform, None, client.identities(tokens.access_token))
        cause = Cause(actor=stored_state.actor)
        async with self._ctx.engine.begin() as conn:
            accounts = [
                await self._store(conn, stored_state.team_id, platform, identity, tokens, cause)
                for identity in identities
            ]
        log.info("accounts connected", extra={"platform": platform.value, "accounts": len(accounts)})
        return accounts

    async def _consume(self, platform: Platform, state: str) -> StateRow:
        nonce, _, signature = state.partition(".")
        if not nonce or not self._ctx.ring.verify(f"{platform.value}:{nonce}", signature):
            raise InvalidState(f"state was not issued by Herald for a {platform.value} connect")
        now = self._ctx.clock()
        async with self._ctx.engine.begin() as conn:
            row = await repository.consume_state(conn, state_key(nonce), now)
        if row is None:
            raise InvalidState("state is unknown or was already used; start the connect again")
        if row.expires_at <= now:
            raise InvalidState("state expired; start the connect again")
        if row.platform is not platform:
            raise InvalidState(f"state belongs to a {row.platform.value} connect")
        return row

    def _verifier(self, state: StateRow) -> str | None:
        if state.code_verifier is None:
            return None
        try:
            return self._ctx.ring.decrypt(state.code_verifier, owner=state.id, field="code_verifier")
        except DecryptionFailed:
            raise InvalidState("state cannot be read (key ring changed); start the connect again") from None

    async def _platform_call(self, platform: Platform, grant: str | None, call: Awaitable[T]) -> T:
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self._policy.timeout_seconds):
                return await call
        except PlatformError as failure:
            if failure.error_class is ErrorClass.CONFIGURATION:
                self._ctx.metrics.configuration_error(platform, "connect")
                log.error(  # noqa: TRY400 (the message is the whole story; a traceback would add nothing)
                    "the platform refused Herald's OAuth client; an operator must fix its configuration",
                    extra={"platform": platform.value, "reason": redact(failure.message)},
                )
            transient = failure.error_class in _TRANSIENT
            if grant == "authorization_code" and not transient and 400 <= (failure.http_status or 0) < 500:
                # The platform refused the code itself (expired, already used, made up): the caller's input, a 400
                # like a refused consent, not a failure of the platform. The state is spent: connect again.
                raise AuthorizationDenied(
                    redact(f"the platform refused the authorization code: {failure.message}")[:300]
                ) from None
            raise ConnectFailed(redact(failure.message), transient=transient) from None
        except TimeoutError:
            raise ConnectFailed(f"{platform.value} did not answer in time", transient=True) from None
        except httpx.HTTPError as failure:
            raise ConnectFailed(f"{platform.value} unreachable ({type(failure).__name__})", transient=True) from None
        finally:
            if grant is not None:
                elapsed = time.perf_counter() - started
                self._ctx.metrics.token_endpoint.labels(platform.value, grant).observe(elapsed)

    async def _store(
        self,
        conn: AsyncConnection,
        team_id: uuid.UUID,
        platform: Platform,
        identity: Identity,
        tokens: TokenSet,
        cause: Cause,
    ) -> AccountRow:
        """Insert or update (reconnect) one account and emit ``AccountConnected``."""
        grant = identity.page_token or tokens  # Meta: the Page's own token, which does not expire
        await repository.lock_identity(conn, team_id, platform, identity.platform_account_id)
        existing = await repository.find_identity(conn, team_id, platform, identity.platform_account_id)
        account_id = existing.id if existing else uuid.uuid4()
        now = self._ctx.clock()
        values: dict[str, object] = {
            "account_name": (identity.name or identity.platform_account_id)[:255],
            "surface": identity.surface.value,
            "access_token": self._ctx.ring.encrypt(grant.access_token, owner=account_id, field="access_token"),
            "expires_at": grant.expires_at,
            "scopes": list(grant.scopes or tokens.scopes),
            "status": AccountStatus.ACTIVE.value,
            "status_reason": None,
            "is_active": True,
            "refresh_failures": 0,
            "refresh_retry_at": None,
            "reauth_warned_at": None,
            "modified_at": now,
        }
        if grant.refresh_token:
            values["refresh_token"] = self._ctx.ring.encrypt(
                grant.refresh_token, owner=account_id, field="refresh_token"
            )
            values["refresh_expires_at"] = grant.refresh_expires_at
        # else: a reconnect without a refresh grant keeps the stored one (never overwritten with an empty one)
        if existing is None:
            values |= {
                "id": account_id,
                "team_id": team_id,
                "platform": platform.value,
                "platform_account_id": identity.platform_account_id,
                "created_at": now,
            }
            account = await repository.insert(conn, values)
        else:
            account = await repository.update_account(conn, account_id, values)
        await self._ctx.writer.write(conn, [events.connected(account, cause, now, reconnected=existing is not None)])
        return account
