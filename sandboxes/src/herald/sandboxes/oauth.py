"""An OAuth 2.0 authority shared by the sandboxes: codes (with PKCE), access and refresh tokens, expiry, revocation.

Each sandbox wraps it in its platform's own endpoints and error bodies; the platform differences are the
constructor arguments (X rotates refresh tokens; LinkedIn may issue none; Meta has no refresh grant at all).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import secrets
import threading
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum

CODE_TTL = dt.timedelta(seconds=30)


class TokenProblem(StrEnum):
    INVALID = "invalid"
    EXPIRED = "expired"
    REVOKED = "revoked"


class TokenRejected(Exception):
    def __init__(self, problem: TokenProblem) -> None:
        super().__init__(problem.value)
        self.problem = problem


class GrantRejected(Exception):
    """The token endpoint refuses a grant; ``error`` is the OAuth error code (``invalid_request``...)."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


@dataclass
class Grant:
    account: str
    client_id: str
    scopes: tuple[str, ...]
    access_token: str
    expires_at: dt.datetime | None
    refresh_token: str | None = None
    refresh_expires_at: dt.datetime | None = None
    revoked: bool = False


@dataclass
class _Code:
    account: str
    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    challenge: str | None
    method: str | None
    expires_at: dt.datetime


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass
class TokenAuthority:
    """Issues and checks tokens. Thread-safe."""

    prefix: str
    access_ttl: dt.timedelta | None
    refresh_ttl: dt.timedelta | None = None
    issue_refresh: bool = True
    rotate_refresh: bool = False
    clients: dict[str, str] = field(default_factory=lambda: {"herald-dev": "herald-dev-secret"})
    token_requests: Counter[str] = field(default_factory=Counter)
    _codes: dict[str, _Code] = field(default_factory=dict)
    _access: dict[str, Grant] = field(default_factory=dict)
    _refresh: dict[str, Grant] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def check_client(self, client_id: str | None, client_secret: str | None) -> bool:
        return client_id is not None and self.clients.get(client_id) == client_secret

    def issue_code(
        self,
        *,
        account: str,
        client_id: str,
        redirect_uri: str,
        scopes: tuple[str, ...],
        challenge: str | None = None,
        method: str | None = None,
    ) -> str:
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._codes[code] = _Code(account, client_id, redirect_uri, scopes, challenge, method, _now() + CODE_TTL)
        return code

    def redeem_code(self, code: str, *, client_id: str, redirect_uri: str, verifier: str | None) -> Grant:
        with self._lock:
            entry = self._codes.pop(code, None)
        if entry is None or entry.expires_at < _now():
            raise GrantRejected("invalid_request", "Value passed for the authorization code was invalid.")
        if entry.client_id != client_id or entry.redirect_uri != redirect_uri:
            raise GrantRejected("invalid_request", "redirect_uri or client_id does not match the authorization.")
        if entry.challenge is not None:
            expected = s256(verifier or "") if entry.method == "S256" else verifier
            if expected != entry.challenge:
                raise GrantRejected("invalid_request", "Value passed for the code_verifier was invalid.")
        self.token_requests[entry.account] += 1
        return self.mint(entry.account, entry.scopes, client_id=client_id)

    def mint(
        self,
        account: str,
        scopes: tuple[str, ...],
        *,
        client_id: str = "herald-dev",
        access_ttl: dt.timedelta | None = None,
        refresh_expires_at: dt.datetime | None = None,
    ) -> Grant:
        ttl = access_ttl if access_ttl is not None else self.access_ttl
        now = _now()
        grant = Grant(
            account=account,
            client_id=client_id,
            scopes=scopes,
            access_token=f"{self.prefix}-at-{secrets.token_urlsafe(24)}",
            expires_at=now + ttl if ttl is not None else None,
        )
        if self.issue_refresh:
            grant.refresh_token = f"{self.prefix}-rt-{secrets.token_urlsafe(24)}"
            grant.refresh_expires_at = refresh_expires_at or (now + self.refresh_ttl if self.refresh_ttl else None)
        with self._lock:
            self._access[grant.access_token] = grant
            if grant.refresh_token:
                self._refresh[grant.refresh_token] = grant
        return grant

    def refresh(self, refresh_token: str, *, client_id: str) -> Grant:
        """Refresh grant. With rotation the old refresh token dies at once (reuse is ``invalid_request``)."""
        with self._lock:
            old = self._refresh.get(refresh_token)
            if old is None or old.revoked or old.client_id != client_id:
                raise GrantRejected("invalid_request", "Value passed for the token was invalid.")
            if old.refresh_expires_at is not None and old.refresh_expires_at < _now():
                raise GrantRejected("invalid_request", "Value passed for the token was invalid.")
            self.token_requests[old.account] += 1
            if self.rotate_refresh:
                del self._refresh[refresh_token]
        grant = self.mint(old.account, old.scopes, client_id=client_id, refresh_expires_at=old.refresh_expires_at)
        if not self.rotate_refresh and grant.refresh_token is not None:
            # Non-rotating platforms (LinkedIn) hand back the same refresh token.
            with self._lock:
                del self._refresh[grant.refresh_token]
                grant.refresh_token = refresh_token
                self._refresh[refresh_token] = grant
        return grant

    def check(self, access_token: str) -> Grant:
        with self._lock:
            grant = self._access.get(access_token)
        if grant is None:
            raise TokenRejected(TokenProblem.INVALID)
        if grant.revoked:
            raise TokenRejected(TokenProblem.REVOKED)
        if grant.expires_at is not None and grant.expires_at <= _now():
            raise TokenRejected(TokenProblem.EXPIRED)
        return grant

    def revoke_account(self, account: str) -> int:
        """Revoke every access and refresh token of an account (the user removed the app)."""
        with self._lock:
            grants = {id(g): g for g in [*self._access.values(), *self._refresh.values()] if g.account == account}
            for grant in grants.values():
                grant.revoked = True
        return len(grants)

    def expire_account(self, account: str) -> int:
        """Make every access token of an account expired now (refresh tokens keep working)."""
        past = _now() - dt.timedelta(seconds=1)
        with self._lock:
            grants = [g for g in self._access.values() if g.account == account]
            for grant in grants:
                grant.expires_at = past
        return len(grants)
