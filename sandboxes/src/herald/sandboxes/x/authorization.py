"""X's OAuth 2.0 endpoints: the consent page (auto-approved), the token endpoint and revocation."""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime as dt
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter
from starlette.datastructures import FormData, QueryParams
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from herald.sandboxes.faults import Fault, FaultKind, Operation, apply_latency
from herald.sandboxes.oauth import Grant, GrantRejected, TokenRejected
from herald.sandboxes.responses import accept_then_fail
from herald.sandboxes.x import problems
from herald.sandboxes.x.runtime import XReject, XSandbox

# The scope table of X's OAuth 2.0 docs.
KNOWN_SCOPES = frozenset(
    {
        "tweet.read", "tweet.write", "tweet.moderate.write", "users.email", "users.read", "follows.read",
        "follows.write", "offline.access", "space.read", "mute.read", "mute.write", "like.read", "like.write",
        "list.read", "list.write", "block.read", "block.write", "bookmark.read", "bookmark.write", "media.write",
        "dm.read", "dm.write",
    }
)  # fmt: skip
MAX_STATE_LENGTH = 500


def oauth_router(sandbox: XSandbox) -> APIRouter:
    router = APIRouter(tags=["X: OAuth 2.0"])

    @router.get("/i/oauth2/authorize")
    @router.get("/2/oauth2/authorize")
    async def authorize(request: Request) -> Response:
        """The consent step, approved at once for ``?account=`` (default: the configured sandbox account).

        ``?deny=1`` simulates the user refusing (redirect with ``error=access_denied``).
        """
        params = request.query_params
        problem = _consent_problem(sandbox, params)
        if problem:
            # X shows an error page rather than redirecting when the request itself is malformed.
            return HTMLResponse(f"<h1>Something went wrong</h1><p>{problem}</p>", status_code=400)
        redirect_uri, state = params["redirect_uri"], params["state"]
        if params.get("deny"):
            return _redirect(redirect_uri, {"error": "access_denied", "state": state})
        code = sandbox.state.tokens.issue_code(
            account=params.get("account") or sandbox.config.default_account,
            client_id=params["client_id"],
            redirect_uri=redirect_uri,
            scopes=tuple(params["scope"].split()),
            challenge=params["code_challenge"],
            method=params.get("code_challenge_method", "plain"),
        )
        return _redirect(redirect_uri, {"state": state, "code": code})

    @router.post("/2/oauth2/token")
    async def token(request: Request) -> Response:
        fault = await _token_fault(sandbox)
        form = await request.form()
        client_id = _client(sandbox, request, form)
        grant = _grant(sandbox, form, client_id)
        if fault is not None:
            # The grant happened (a rotated refresh token is already dead) but the client never hears of it.
            return await accept_then_fail(fault, problems.problem(problems.SERVICE_UNAVAILABLE, 503))
        return problems.x_json(_token_body(grant))

    @router.post("/2/oauth2/revoke")
    async def revoke(request: Request) -> Response:
        form = await request.form()
        _client(sandbox, request, form)
        token = str(form.get("token") or "")
        # X answers the same for refresh tokens and for tokens it no longer knows.
        with contextlib.suppress(TokenRejected):
            sandbox.state.tokens.check(token).revoked = True
        return problems.x_json({"revoked": True})

    return router


def _consent_problem(sandbox: XSandbox, params: QueryParams) -> str | None:
    """Why X would refuse to show the consent screen, if it would."""
    scopes = set(params.get("scope", "").split())
    checks = [
        (params.get("response_type") != "code", "response_type must be code"),
        (params.get("client_id") not in sandbox.config.clients, "unknown client_id"),
        (not params.get("redirect_uri"), "redirect_uri is required"),
        (not params.get("state") or len(params["state"]) > MAX_STATE_LENGTH, "state is required (at most 500)"),
        (not params.get("code_challenge"), "PKCE is required: code_challenge is missing"),
        (params.get("code_challenge_method", "plain") not in ("S256", "plain"), "code_challenge_method: S256|plain"),
        (not scopes or not scopes <= KNOWN_SCOPES, "scope must list known X scopes"),
    ]
    return next((reason for failed, reason in checks if failed), None)


def _redirect(redirect_uri: str, params: dict[str, str]) -> Response:
    separator = "&" if "?" in redirect_uri else "?"
    return RedirectResponse(f"{redirect_uri}{separator}{urlencode(params)}", status_code=302)


async def _token_fault(sandbox: XSandbox) -> Fault | None:
    """Token faults are global (arm them with ``account: null``): the account is not known before the grant."""
    fault = sandbox.state.faults.take(Operation.TOKEN, None)
    if fault is None:
        return None
    await apply_latency(fault)
    if fault.kind is FaultKind.ERROR:
        raise XReject(sandbox.error_fault(fault, problems.TOKEN_FAULTS, "oauth2.token"))
    if fault.kind is FaultKind.RATE_LIMIT:
        raise XReject(sandbox.rate_limit_fault(fault, "oauth2.token"))
    return fault if fault.kind is FaultKind.ACCEPT_THEN_FAIL else None


def _client(sandbox: XSandbox, request: Request, form: FormData) -> str:
    """Confidential clients authenticate with HTTP Basic ``client_id:client_secret``."""
    client_id, secret = _basic_credentials(request.headers.get("authorization", ""))
    body_client = form.get("client_id")
    if client_id is None or not sandbox.state.tokens.check_client(client_id, secret):
        raise XReject(problems.problem(problems.MISSING_CLIENT_AUTH, 401))
    if body_client not in (None, client_id):
        raise XReject(problems.problem(problems.MISSING_CLIENT_AUTH, 401))
    return client_id


def _basic_credentials(header: str) -> tuple[str | None, str | None]:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None, None
    try:
        decoded = base64.b64decode(encoded, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None, None
    client_id, _, secret = decoded.partition(":")
    return client_id, secret


def _grant(sandbox: XSandbox, form: FormData, client_id: str) -> Grant:
    grant_type = form.get("grant_type")
    try:
        if grant_type == "authorization_code":
            return sandbox.state.tokens.redeem_code(
                str(form.get("code") or ""),
                client_id=client_id,
                redirect_uri=str(form.get("redirect_uri") or ""),
                verifier=str(form.get("code_verifier") or ""),
            )
        if grant_type == "refresh_token":
            return sandbox.state.tokens.refresh(str(form.get("refresh_token") or ""), client_id=client_id)
    except GrantRejected as rejected:
        raise XReject(_grant_rejected(sandbox, rejected)) from None
    body = {"error": "unsupported_grant_type", "error_description": "Only authorization_code and refresh_token."}
    raise XReject(problems.problem(body, 400))


def _grant_rejected(sandbox: XSandbox, rejected: GrantRejected) -> Response:
    """A refused code or refresh token: X's ``invalid_request`` "Value passed for the token was invalid."."""
    if "code_verifier" in rejected.description or "redirect_uri" in rejected.description:
        return problems.problem({"error": rejected.error, "error_description": rejected.description}, 400)
    if sandbox.config.refresh_failure_error == "invalid_grant":
        return problems.problem(problems.TOKEN_INVALID_GRANT, 400)
    return problems.problem(problems.TOKEN_INVALID, 400)


def _token_body(grant: Grant) -> dict[str, Any]:
    """The token response; ``refresh_token`` only when ``offline.access`` was granted (or no scopes: sandbox)."""
    body: dict[str, Any] = {"token_type": "bearer", "access_token": grant.access_token}
    if grant.expires_at is not None:
        body["expires_in"] = round((grant.expires_at - dt.datetime.now(dt.UTC)).total_seconds())
    body["scope"] = " ".join(grant.scopes)
    if grant.refresh_token and (not grant.scopes or "offline.access" in grant.scopes):
        body["refresh_token"] = grant.refresh_token
    return body
