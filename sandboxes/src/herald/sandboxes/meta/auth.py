"""Who is calling: the token, its kind (user or Page), and what it may do.

The token is read from the ``access_token`` parameter (documented) or an ``Authorization: Bearer|OAuth`` header;
only the parameter is documented (https://developers.facebook.com/docs/graph-api/overview) and clients use both, so
the sandbox accepts all forms.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from herald.sandboxes.meta.call import GraphCall
from herald.sandboxes.meta.errors import (
    BAD_PROOF,
    PAGE_TOKEN_REQUIRED,
    PERMISSION_DENIED,
    REVOKED_TOKEN,
    TOKEN_REQUIRED,
    token_error,
)
from herald.sandboxes.oauth import Grant, TokenProblem, TokenRejected

PUBLISH_SCOPE = "pages_manage_posts"
READ_SCOPE = "pages_read_engagement"


@dataclass(frozen=True)
class Caller:
    """An authenticated caller. ``is_page``: a Page token (account = Page id), else a user token."""

    grant: Grant
    is_page: bool

    @property
    def account(self) -> str:
        return self.grant.account

    def has_scope(self, scope: str) -> bool:
        # Tokens minted through the control API without scopes may do everything (tests, benchmarks).
        return not self.grant.scopes or scope in self.grant.scopes


def presented_token(call: GraphCall) -> str | None:
    token = call.param("access_token")
    if token:
        return token
    scheme, _, value = call.request.headers.get("authorization", "").partition(" ")
    if scheme.lower() in ("bearer", "oauth") and value.strip():
        return value.strip()
    return None


def authenticate(call: GraphCall) -> Caller:
    """Check the token (190 with subcode 463 expired / 460 revoked) and ``appsecret_proof`` if sent."""
    token = presented_token(call)
    if token is None:
        call.fail(TOKEN_REQUIRED)
    tokens = call.sandbox.state.tokens
    try:
        grant = tokens.check(token)
    except TokenRejected as rejected:
        call.fail(token_error(rejected.problem, call.now))
    _check_lineage(call, token)
    _check_proof(call, grant, token)
    return Caller(grant=grant, is_page=not call.sandbox.directory.is_user(grant.account))


def _check_lineage(call: GraphCall, token: str) -> None:
    """A Page token dies with its user's session (password change = revocation of the user's tokens)."""
    parent = call.sandbox.parents.get(token)
    if parent is None:
        return
    try:
        call.sandbox.state.tokens.check(parent)
    except TokenRejected as rejected:
        if rejected.problem is TokenProblem.REVOKED:
            call.fail(REVOKED_TOKEN)


def _check_proof(call: GraphCall, grant: Grant, token: str) -> None:
    proof = call.param("appsecret_proof")
    if proof is None:
        return
    secret = call.sandbox.config.clients.get(grant.client_id, "")
    expected = hmac.new(secret.encode(), token.encode(), hashlib.sha256).hexdigest()
    if not secret or not hmac.compare_digest(proof, expected):
        call.fail(BAD_PROOF)


def require_page_token(call: GraphCall, caller: Caller, page_id: str, scope: str) -> None:
    """Page endpoints need that Page's token. A user token on a read is (#190); on a write (#200), HTTP 403."""
    if not caller.is_page and scope == READ_SCOPE:
        call.fail(PAGE_TOKEN_REQUIRED)
    if not caller.is_page or caller.account != page_id or not caller.has_scope(scope):
        call.fail(PERMISSION_DENIED)
