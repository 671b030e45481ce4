"""LinkedIn OAuth 2.0 endpoints: auto-approved consent, token exchange and refresh, introspection.

https://learn.microsoft.com/en-us/linkedin/shared/authentication/authorization-code-flow and
https://learn.microsoft.com/en-us/linkedin/shared/authentication/programmatic-refresh-tokens
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from herald.sandboxes.faults import Operation
from herald.sandboxes.linkedin import answers, fault_answers
from herald.sandboxes.linkedin.config import KNOWN_SCOPES, LinkedInSandboxConfig
from herald.sandboxes.linkedin.state import LinkedInState
from herald.sandboxes.oauth import Grant, GrantRejected, TokenRejected

_SCOPE_SEPARATORS = re.compile(r"[\s,]+")
REQUIRED = {
    "authorization_code": ("code", "redirect_uri", "client_id", "client_secret"),
    "refresh_token": ("refresh_token", "client_id", "client_secret"),
}


class Authorization:
    def __init__(self, state: LinkedInState, config: LinkedInSandboxConfig) -> None:
        self.state = state
        self.config = config

    def router(self) -> APIRouter:
        router = APIRouter(prefix="/oauth/v2", tags=["oauth"])
        router.add_api_route("/authorization", self.authorize, methods=["GET"])
        router.add_api_route("/accessToken", self.access_token, methods=["POST"])
        router.add_api_route("/introspectToken", self.introspect, methods=["POST"])
        return router

    async def authorize(self, request: Request) -> Response:
        """The consent page, auto-approved. Sandbox extras: ``account=<member sub>`` picks who consents
        (default ``config.default_member``); ``decision=deny`` answers as if the member cancelled."""
        query = request.query_params
        redirect_uri = query.get("redirect_uri")
        if not redirect_uri or query.get("client_id") not in self.config.clients:
            return answers.oauth_error(400, "invalid_request", "Unknown client_id or missing redirect_uri")
        state = query.get("state")
        if query.get("response_type") != "code":
            return _redirect(redirect_uri, state, error="unsupported_response_type", error_description="code only")
        scopes = tuple(s for s in _SCOPE_SEPARATORS.split(query.get("scope", "")) if s)
        unknown = [s for s in scopes if s not in KNOWN_SCOPES]
        if unknown:
            description = f'Scope "{unknown[0]}" is not authorized for your application'
            return _redirect(redirect_uri, state, error="unauthorized_scope_error", error_description=description)
        if query.get("decision") == "deny":
            description = "The user cancelled the authorization"
            return _redirect(redirect_uri, state, error="user_cancelled_authorize", error_description=description)
        code = self.state.tokens.issue_code(
            account=query.get("account") or self.config.default_member,
            client_id=query["client_id"],
            redirect_uri=redirect_uri,
            scopes=scopes,
            challenge=query.get("code_challenge"),
            method=query.get("code_challenge_method", "plain") if query.get("code_challenge") else None,
        )
        return _redirect(redirect_uri, state, code=code)

    async def access_token(self, request: Request) -> Response:
        form = await request.form()
        context = fault_answers.FaultContext(self.state, None, "NO_VERSION", self.config.send_retry_after)
        fault = self.state.faults.take(Operation.TOKEN, None)  # token faults apply to every account
        early = await fault_answers.before(fault, fault_answers.TOKEN_ERRORS, context)
        if early is not None:
            return early
        return await fault_answers.after(fault, self._grant(form))

    async def introspect(self, request: Request) -> Response:
        form = await request.form()
        if not self.state.tokens.check_client(_text(form, "client_id"), _text(form, "client_secret")):
            return answers.oauth_error(401, "invalid_client", "Client authentication failed")
        try:
            grant = self.state.tokens.check(_text(form, "token") or "")
        except TokenRejected as rejected:
            return JSONResponse({"active": False, "status": rejected.problem.value})
        return JSONResponse(_introspection(grant))

    def _grant(self, form: FormData) -> Response:
        grant_type = _text(form, "grant_type")
        if grant_type is None:
            return answers.missing_parameter("grant_type")
        if grant_type not in REQUIRED:
            return answers.oauth_error(400, "unsupported_grant_type", f"grant_type {grant_type} is not supported")
        missing = next((name for name in REQUIRED[grant_type] if not _text(form, name)), None)
        if missing is not None:
            return answers.missing_parameter(missing)
        if not self.state.tokens.check_client(_text(form, "client_id"), _text(form, "client_secret")):
            return answers.oauth_error(401, "invalid_client", "Client authentication failed")
        if grant_type == "authorization_code":
            return self._redeem(form)
        return self._refresh(form)

    def _redeem(self, form: FormData) -> Response:
        try:
            grant = self.state.tokens.redeem_code(
                _text(form, "code") or "",
                client_id=_text(form, "client_id") or "",
                redirect_uri=_text(form, "redirect_uri") or "",
                verifier=_text(form, "code_verifier"),
            )
        except GrantRejected:
            return answers.oauth_error(400, "invalid_request", answers.BAD_CODE)
        return JSONResponse(token_answer(grant))

    def _refresh(self, form: FormData) -> Response:
        try:
            grant = self.state.tokens.refresh(
                _text(form, "refresh_token") or "", client_id=_text(form, "client_id") or ""
            )
        except GrantRejected:
            # LinkedIn has been observed to say invalid_request, not invalid_grant; configurable for other clients.
            return answers.oauth_error(400, self.config.refresh_error, answers.DEAD_GRANT)
        return JSONResponse(token_answer(grant))


def token_answer(grant: Grant) -> dict[str, Any]:
    """``access_token, expires_in, refresh_token, refresh_token_expires_in, scope`` (official client formatter).

    ``refresh_token_expires_in`` counts down: the refresh token has a fixed 365-day TTL that refreshing does not
    extend (https://learn.microsoft.com/en-us/linkedin/shared/authentication/programmatic-refresh-tokens). The OIDC
    ``id_token`` is not issued. Scopes come back comma-separated.
    """
    now = dt.datetime.now(dt.UTC)
    answer: dict[str, Any] = {"access_token": grant.access_token, "expires_in": _seconds(grant.expires_at, now)}
    if grant.refresh_token is not None:
        answer["refresh_token"] = grant.refresh_token
        answer["refresh_token_expires_in"] = _seconds(grant.refresh_expires_at, now)
    answer["scope"] = ",".join(grant.scopes)
    answer["token_type"] = "Bearer"
    return answer


def _introspection(grant: Grant) -> dict[str, Any]:
    expires_at = int(grant.expires_at.timestamp()) if grant.expires_at else None
    return {
        "active": True,
        "client_id": grant.client_id,
        "status": "active",
        "scope": ",".join(grant.scopes),
        "auth_type": "3L",
        "expires_at": expires_at,
    }


def _seconds(when: dt.datetime | None, now: dt.datetime) -> int | None:
    return max(0, math.floor((when - now).total_seconds() + 0.5)) if when else None


def _text(form: FormData, name: str) -> str | None:
    value = form.get(name)
    return value if isinstance(value, str) and value else None


def _redirect(redirect_uri: str, state: str | None, **params: str) -> RedirectResponse:
    if state is not None:
        params["state"] = state
    separator = "&" if "?" in redirect_uri else "?"
    return RedirectResponse(f"{redirect_uri}{separator}{urlencode(params)}", status_code=302)
