"""Handing out access tokens, and refreshing them exactly once however many replicas ask at the same time.

Single flight
    A refresh runs inside a transaction that holds the account's row lock (``SELECT ... FOR UPDATE``) across the
    call to the platform. Every other request for that account, on any replica, waits on the lock, then re-reads
    the row and finds the new token (or the recorded failure) instead of refreshing again. X rotates refresh
    tokens, so the new refresh token is committed before the new access token leaves this service; a refresh
    token is never replaced by an empty one.
Failures
    A transient failure (5xx, 429, timeout, network) leaves the account active, records a back-off
    (``refresh_retry_at``) during which nobody calls the platform again for that account, and answers 503 with
    ``Retry-After`` unless the current token is still valid (then it is handed out). A rejected grant
    (``invalid_grant`` / ``invalid_request``) marks the account ``needs_reauth`` and emits one
    :class:`~herald.contracts.accounts.AccountReauthRequired`: later requests answer 409 without calling the
    platform, so the event cannot repeat.
Accounts that cannot be refreshed
    Meta Page tokens (no expiry, no refresh grant: docs/platforms.md, "Meta: OAuth", from
    https://developers.facebook.com/docs/facebook-login/guides/access-tokens/get-long-lived) are handed out as they
    are; a forced refresh of one means the Page token was rejected, which only a reconnect fixes. LinkedIn apps
    without programmatic refresh get no refresh token: the background sweep warns (``AccountReauthRequired`` with
    the expiry ahead) ``reauth_warning_seconds`` before the grant ends, and flags the account when it has ended.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import logging
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from herald.contracts.base import Event, service_actor
from herald.contracts.media import Surface
from herald.contracts.platform import Platform
from herald.kit.clock import Clock, utc_now
from herald.kit.logging import redact
from herald.platforms.base import ErrorClass, OAuthClient, PlatformError, RefreshError, TokenSet
from herald.tokens import events, repository
from herald.tokens.crypto import DecryptionFailed, KeyRing
from herald.tokens.errors import (
    AccountNotFound,
    AccountUnusable,
    CallerForbidden,
    PlatformNotConfigured,
    RefreshUnavailable,
    TokenUnreadable,
)
from herald.tokens.events import Cause, EventWriter
from herald.tokens.metrics import TokenMetrics
from herald.tokens.models import AccountRow, AccountStatus
from herald.tokens.settings import TokensSettings

log = logging.getLogger(__name__)

STATE_RETENTION = dt.timedelta(days=1)
# LinkedIn reports its fixed refresh-token expiry as a countdown, so it wobbles by a second between refreshes.
GRANT_EXTENDED = dt.timedelta(days=1)


def token_sha256(token: str) -> str:
    """How a caller names a token without sending it (``rejected_access_token_sha256``)."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class TokenContext:
    """What the token service's use cases (handing out tokens, connecting accounts) all work with, built once."""

    engine: AsyncEngine
    ring: KeyRing
    oauth: Mapping[Platform, OAuthClient]
    writer: EventWriter
    metrics: TokenMetrics
    clock: Clock = utc_now


@dataclass(frozen=True)
class RefreshPolicy:
    """Timing of refreshes (from :class:`TokensSettings`)."""

    skew_seconds: float = 300
    timeout_seconds: float = 15
    backoff_seconds: float = 5
    backoff_max_seconds: float = 300
    ahead_seconds: float = 900
    batch_size: int = 50
    reauth_warning_seconds: float = 7 * 24 * 3600

    @classmethod
    def from_settings(cls, settings: TokensSettings) -> RefreshPolicy:
        return cls(
            skew_seconds=settings.refresh_skew_seconds,
            timeout_seconds=settings.refresh_timeout_seconds,
            backoff_seconds=settings.refresh_backoff_seconds,
            backoff_max_seconds=settings.refresh_backoff_max_seconds,
            ahead_seconds=settings.refresh_ahead_seconds,
            batch_size=settings.refresh_batch_size,
            reauth_warning_seconds=settings.reauth_warning_seconds,
        )

    def backoff(self, failures: int) -> float:
        return float(min(self.backoff_seconds * 2 ** max(failures - 1, 0), self.backoff_max_seconds))


@dataclass(frozen=True)
class IssuedToken:
    """What the internal API returns to a publisher."""

    account_id: uuid.UUID
    team_id: uuid.UUID
    platform: Platform
    platform_account_id: str
    access_token: str = field(repr=False)
    expires_at: dt.datetime | None
    surface: Surface = Surface.DEFAULT


@dataclass(frozen=True)
class _Ready:
    row: AccountRow
    access_token: str | None = field(default=None, repr=False)  # known plaintext, to skip a decrypt


@dataclass(frozen=True)
class _Unusable:
    row: AccountRow


@dataclass(frozen=True)
class _Unavailable:
    row: AccountRow
    retry_after_seconds: float
    message: str


_Outcome = _Ready | _Unusable | _Unavailable


@dataclass(frozen=True)
class _Failure:
    permanent: bool
    reason: str
    http_status: int | None = None
    configuration: bool = False  # the platform refused Herald's own client: an operator's error, never the user's


class TokenService:
    """The internal API's use cases and the background sweep."""

    def __init__(self, context: TokenContext, policy: RefreshPolicy) -> None:
        self._ctx = context
        self._policy = policy

    # -- the internal API -------------------------------------------------------------------------------------

    async def access_token(self, caller: str, account_id: uuid.UUID, correlation_id: str | None = None) -> IssuedToken:
        """A usable token for ``caller`` (``publisher-<platform>``), refreshed first if it expires within the skew."""
        row = await self._readable(caller, account_id)
        if not row.expires_within(self._ctx.clock(), self._policy.skew_seconds):
            return await self._issue(_Ready(row))
        cause = Cause(actor=service_actor(caller), correlation_id=correlation_id)
        return await self._refresh(account_id, cause, force=False, rejected_sha256=None)

    async def force_refresh(
        self, caller: str, account_id: uuid.UUID, rejected_sha256: str | None, correlation_id: str | None = None
    ) -> IssuedToken:
        """Refresh after the platform refused a token, unless someone already replaced that token."""
        await self._readable(caller, account_id)
        cause = Cause(actor=service_actor(caller), correlation_id=correlation_id)
        return await self._refresh(account_id, cause, force=True, rejected_sha256=rejected_sha256)

    async def report_reauth_required(
        self, caller: str, account_id: uuid.UUID, rejected_sha256: str | None, reason: str, correlation_id: str | None
    ) -> None:
        """A publisher says the platform refused this account's grant (revoked): flag it once, so later token
        requests answer 409 at once instead of every post calling the platform with a dead token."""
        cause = Cause(actor=service_actor(caller), correlation_id=correlation_id)
        async with self._ctx.engine.begin() as conn:
            row = await repository.get(conn, account_id, lock=True)
            if row is None:
                raise AccountNotFound(account_id)
            if caller != f"publisher-{row.platform.value}":
                raise CallerForbidden(f"service {caller!r} may not report {row.platform.value} accounts")
            if row.status is not AccountStatus.ACTIVE:
                return  # already flagged or disconnected: once only
            if rejected_sha256 is not None and not hmac.compare_digest(self._sha_of(row), rejected_sha256.lower()):
                return  # the rejected token has been replaced meanwhile (a reconnect)
            await self._flag_reauth(
                conn, row, cause, self._ctx.clock(), f"the platform refused the grant: {reason}", None
            )
        await self.refresh_gauge()

    async def _readable(self, caller: str, account_id: uuid.UUID) -> AccountRow:
        async with self._ctx.engine.connect() as conn:
            row = await repository.get(conn, account_id)
        if row is None:
            raise AccountNotFound(account_id)
        if caller != f"publisher-{row.platform.value}":
            raise CallerForbidden(f"service {caller!r} may not read {row.platform.value} accounts")
        _require_active(row)
        return row

    # -- refresh ----------------------------------------------------------------------------------------------

    async def _refresh(
        self,
        account_id: uuid.UUID,
        cause: Cause,
        *,
        force: bool,
        rejected_sha256: str | None,
        within: float | None = None,
    ) -> IssuedToken:
        window = self._policy.skew_seconds if within is None else within
        async with self._ctx.engine.begin() as conn:
            row = await repository.get(conn, account_id, lock=True)  # waits for any refresh in flight
            if row is None:
                raise AccountNotFound(account_id)
            outcome = await self._decide(conn, row, cause, force=force, rejected=rejected_sha256, window=window)
        if outcome.row.status is not row.status:
            await self.refresh_gauge()
        if isinstance(outcome, _Unusable):
            _require_active(outcome.row)
        if isinstance(outcome, _Unavailable):
            raise RefreshUnavailable(account_id, outcome.retry_after_seconds, outcome.message)
        assert isinstance(outcome, _Ready)
        return await self._issue(outcome)

    async def _decide(
        self, conn: AsyncConnection, row: AccountRow, cause: Cause, *, force: bool, rejected: str | None, window: float
    ) -> _Outcome:
        """Under the row lock: the row is current, so whatever another replica did is visible here."""
        now = self._ctx.clock()
        if row.status is not AccountStatus.ACTIVE:
            return _Unusable(row)
        if not force and not row.expires_within(now, window):
            return _Ready(row)  # refreshed while we waited for the lock
        if force and rejected is not None and not hmac.compare_digest(self._sha_of(row), rejected.lower()):
            return _Ready(row)  # the rejected token was already replaced
        if row.refresh_retry_at is not None and row.refresh_retry_at > now:
            return self._backing_off(row, now, force=force)
        if row.refresh_token is None:
            return await self._cannot_refresh(conn, row, cause, now, force=force)
        return await self._call_platform(conn, row, cause, now, force=force)

    def _backing_off(self, row: AccountRow, now: dt.datetime, *, force: bool) -> _Outcome:
        if not force and _still_valid(row, now):
            return _Ready(row)
        wait = (row.refresh_retry_at - now).total_seconds() if row.refresh_retry_at else self._policy.backoff_seconds
        return _Unavailable(row, wait, "the platform's token endpoint failed recently; retry later")

    async def _cannot_refresh(
        self, conn: AsyncConnection, row: AccountRow, cause: Cause, now: dt.datetime, *, force: bool
    ) -> _Outcome:
        if not force and _still_valid(row, now):
            return _Ready(row)  # no refresh grant (LinkedIn without MDP): use it while it lasts
        reason = (
            "the platform rejected the access token and there is no refresh grant"
            if force
            else "the access token expired and there is no refresh grant"
        )
        return _Unusable(await self._flag_reauth(conn, row, cause, now, reason, failure=None))

    async def _call_platform(
        self, conn: AsyncConnection, row: AccountRow, cause: Cause, now: dt.datetime, *, force: bool
    ) -> _Outcome:
        oauth = self._ctx.oauth.get(row.platform)
        if oauth is None:
            raise PlatformNotConfigured(row.platform)
        refresh_token = self._decrypt(row, "refresh_token")
        result = await self._platform_refresh(oauth, row.platform, refresh_token)
        if isinstance(result, TokenSet):
            return await self._succeeded(conn, row, cause, result, refresh_token)
        if result.configuration:
            # Reconnecting cannot fix our client id/secret: back off like an outage (publishers hold their posts)
            # and alert an operator (docs/operations.md, "Operator errors").
            self._ctx.metrics.refresh(row.platform, "configuration_failure")
            self._ctx.metrics.configuration_error(row.platform, "refresh")
            log.error(
                "the platform refused Herald's OAuth client; an operator must fix its configuration",
                extra={"platform": row.platform.value, "reason": result.reason},
            )
            return await self._transient(conn, row, cause, result, force=force)
        if result.permanent:
            self._ctx.metrics.refresh(row.platform, "permanent_failure")
            reason = f"refresh grant rejected: {result.reason}"
            return _Unusable(await self._flag_reauth(conn, row, cause, self._ctx.clock(), reason, failure=result))
        self._ctx.metrics.refresh(row.platform, "transient_failure")
        return await self._transient(conn, row, cause, result, force=force)

    async def _platform_refresh(
        self, oauth: OAuthClient, platform: Platform, refresh_token: str
    ) -> TokenSet | _Failure:
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self._policy.timeout_seconds):
                return await oauth.refresh(refresh_token)
        except RefreshError as error:
            return _Failure(error.permanent, redact(str(error)), error.http_status, error.configuration)
        except PlatformError as error:
            permanent = error.error_class in (ErrorClass.RECONNECT, ErrorClass.PERMANENT)
            configuration = error.error_class is ErrorClass.CONFIGURATION
            return _Failure(permanent, redact(error.message), error.http_status, configuration)
        except TimeoutError:
            return _Failure(False, f"token endpoint did not answer within {self._policy.timeout_seconds:g}s")
        except httpx.HTTPError as error:
            return _Failure(False, f"token endpoint unreachable ({type(error).__name__})")
        except Exception as error:  # an adapter bug or an unreadable answer: retry later, never flag the account
            log.exception("token refresh raised unexpectedly", extra={"platform": platform.value})
            return _Failure(False, f"token refresh failed unexpectedly ({type(error).__name__})")
        finally:
            self._ctx.metrics.token_endpoint.labels(platform.value, "refresh_token").observe(
                time.perf_counter() - started
            )

    async def _succeeded(
        self, conn: AsyncConnection, row: AccountRow, cause: Cause, tokens: TokenSet, old_refresh: str
    ) -> _Outcome:
        now = self._ctx.clock()
        rotated = bool(tokens.refresh_token) and tokens.refresh_token != old_refresh
        values: dict[str, object] = {
            "access_token": self._ctx.ring.encrypt(tokens.access_token, owner=row.id, field="access_token"),
            "expires_at": tokens.expires_at,
            "last_refreshed_at": now,
            "last_used_at": now,
            "refresh_failures": 0,
            "refresh_retry_at": None,
            "modified_at": now,
        }
        if rotated and tokens.refresh_token:  # never replace a refresh token with an empty one
            values["refresh_token"] = self._ctx.ring.encrypt(tokens.refresh_token, owner=row.id, field="refresh_token")
        if tokens.refresh_expires_at is not None:
            values["refresh_expires_at"] = tokens.refresh_expires_at
            if row.refresh_expires_at is None or tokens.refresh_expires_at > row.refresh_expires_at + GRANT_EXTENDED:
                values["reauth_warned_at"] = None  # a really longer grant: warn again before it ends
        if tokens.scopes:
            values["scopes"] = list(tokens.scopes)
        updated = await repository.update_account(conn, row.id, values)
        await self._ctx.writer.write(conn, [events.refreshed(updated, cause, now, rotated=rotated)])
        self._ctx.metrics.refresh(row.platform, "success")
        log.info("token refreshed", extra={"account_id": str(row.id), "platform": row.platform.value})
        return _Ready(updated, tokens.access_token)

    async def _transient(
        self, conn: AsyncConnection, row: AccountRow, cause: Cause, failure: _Failure, *, force: bool
    ) -> _Outcome:
        now = self._ctx.clock()
        failures = row.refresh_failures + 1
        wait = self._policy.backoff(failures)
        retry_at = now + dt.timedelta(seconds=wait)
        updated = await repository.update_account(
            conn, row.id, {"refresh_failures": failures, "refresh_retry_at": retry_at, "modified_at": now}
        )
        event = events.refresh_failed(
            updated, cause, now, transient=True, reason=failure.reason, http_status=failure.http_status
        )
        await self._ctx.writer.write(conn, [event])
        log.warning(
            "token refresh failed transiently",
            extra={"account_id": str(row.id), "platform": row.platform.value, "reason": failure.reason},
        )
        if not force and _still_valid(row, now):
            return _Ready(updated)
        return _Unavailable(updated, wait, f"the platform's token endpoint failed: {failure.reason}")

    async def _flag_reauth(
        self,
        conn: AsyncConnection,
        row: AccountRow,
        cause: Cause,
        now: dt.datetime,
        reason: str,
        failure: _Failure | None,
    ) -> AccountRow:
        """Mark ``needs_reauth`` and emit the events; only ever called on an active row under its lock (once)."""
        values = {
            "status": AccountStatus.NEEDS_REAUTH.value,
            "status_reason": reason[:2000],
            "is_active": False,
            "modified_at": now,
            "refresh_failures": row.refresh_failures + (1 if failure else 0),
        }
        updated = await repository.update_account(conn, row.id, values)
        written: list[Event] = []
        if failure is not None:
            written.append(
                events.refresh_failed(
                    updated, cause, now, transient=False, reason=failure.reason, http_status=failure.http_status
                )
            )
        written.append(events.reauth_required(updated, cause, now, reason, row.expires_at))
        await self._ctx.writer.write(conn, written)
        log.warning("account needs reauthorization", extra={"account_id": str(row.id), "reason": reason})
        return updated

    # -- issuing ----------------------------------------------------------------------------------------------

    async def _issue(self, ready: _Ready) -> IssuedToken:
        row = ready.row
        token = ready.access_token or self._decrypt(row, "access_token")
        async with self._ctx.engine.begin() as conn:
            await repository.mark_used(conn, row.id, self._ctx.clock())
        return IssuedToken(
            row.id, row.team_id, row.platform, row.platform_account_id, token, row.expires_at, row.surface
        )

    def _decrypt(self, row: AccountRow, column: str) -> str:
        ciphertext = getattr(row, column)
        if ciphertext is None:
            raise TokenUnreadable(row.id)
        try:
            return self._ctx.ring.decrypt(ciphertext, owner=row.id, field=column)
        except DecryptionFailed as error:
            # No traceback: the failure is the message (and it never holds data).
            log.error("stored token does not decrypt", extra={"account_id": str(row.id), "error": str(error)})  # noqa: TRY400
            raise TokenUnreadable(row.id) from None

    def _sha_of(self, row: AccountRow) -> str:
        return token_sha256(self._decrypt(row, "access_token"))

    # -- the background sweep ---------------------------------------------------------------------------------

    async def sweep(self) -> int:
        """One pass: refresh what expires soon, flag and warn what cannot be refreshed, prune old states.

        Safe on every replica at once: refreshes take the row lock and re-check, and each flag or warning is a
        conditional UPDATE that only one replica wins. Returns how many accounts were refreshed.
        """
        now = self._ctx.clock()
        horizon = now + dt.timedelta(seconds=self._policy.ahead_seconds)
        async with self._ctx.engine.connect() as conn:
            due = await repository.due_for_refresh(conn, horizon, now, self._policy.batch_size)
        refreshed = 0
        for account_id in due:
            refreshed += await self._sweep_one(account_id)
        await self._flag_and_warn()
        await self.refresh_gauge()
        return refreshed

    async def _sweep_one(self, account_id: uuid.UUID) -> int:
        try:
            await self._refresh(
                account_id, Cause(), force=False, rejected_sha256=None, within=self._policy.ahead_seconds
            )
        except (AccountUnusable, RefreshUnavailable, AccountNotFound):
            return 0  # recorded (and announced) by the refresh itself
        except Exception:  # one broken account must not stop the sweep
            log.exception("background refresh failed", extra={"account_id": str(account_id)})
            return 0
        return 1

    async def _flag_and_warn(self) -> None:
        now = self._ctx.clock()
        warn_before = now + dt.timedelta(seconds=self._policy.reauth_warning_seconds)
        cause = Cause()
        async with self._ctx.engine.begin() as conn:
            reason = "the access token expired and there is no refresh grant"
            expired = await repository.flag_expired_unrefreshable(conn, now, reason)
            written = [events.reauth_required(row, cause, now, reason, row.expires_at) for row in expired]
            for row in await repository.claim_reauth_warnings(conn, now, warn_before):
                ends = row.expires_at if row.refresh_token is None else row.refresh_expires_at
                reason = f"the {row.platform.value} grant cannot be extended and ends at {ends:%Y-%m-%d %H:%M} UTC"
                written.append(events.reauth_required(row, cause, now, reason, ends))
            await self._ctx.writer.write(conn, written)
            await repository.prune_states(conn, now - STATE_RETENTION)

    async def refresh_gauge(self) -> None:
        async with self._ctx.engine.connect() as conn:
            self._ctx.metrics.set_needing_reauth(await repository.count_needing_reauth(conn))

    async def run(self, stop: asyncio.Event, interval_seconds: float) -> None:
        """The background loop: :meth:`sweep` every ``interval_seconds`` until ``stop`` is set."""
        while not stop.is_set():
            try:
                await self.sweep()
            except Exception:  # the database is down: try again next time
                log.exception("token sweep failed")
            try:
                await asyncio.wait_for(stop.wait(), timeout=interval_seconds)
            except TimeoutError:
                continue


def _still_valid(row: AccountRow, now: dt.datetime) -> bool:
    return row.expires_at is None or row.expires_at > now


def _require_active(row: AccountRow) -> None:
    if row.status is AccountStatus.DISCONNECTED:
        raise AccountUnusable(row.id, "disconnected", "the account was disconnected; connect it again")
    if row.status is AccountStatus.NEEDS_REAUTH:
        message = f"the account must be reconnected: {row.status_reason or 'authorization lost'}"
        raise AccountUnusable(row.id, "reauth_required", message)
