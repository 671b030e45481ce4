"""Facebook Login: the consent dialog, ``/oauth/access_token``, ``/debug_token``, ``/me/accounts``.

https://developers.facebook.com/docs/facebook-login/guides/advanced/manual-flow and
https://developers.facebook.com/docs/facebook-login/guides/access-tokens

Meta has no refresh grant: the code exchange gives a short-lived user token (~1 h), ``grant_type=
fb_exchange_token`` a long-lived one (60 days), and ``/me/accounts`` one Page token per Page (no expiry).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from herald.sandboxes.faults import Operation
from herald.sandboxes.meta.auth import authenticate
from herald.sandboxes.meta.call import GraphCall
from herald.sandboxes.meta.errors import (
    BAD_CLIENT_ID,
    BAD_CLIENT_SECRET,
    BAD_CODE,
    INVALID_PARAMETER,
    INVALID_TOKEN,
    MISSING_GRANT,
    NO_SUCH_FIELD,
    REDIRECT_MISMATCH,
    token_error,
)
from herald.sandboxes.meta.injection import finish, take_fault
from herald.sandboxes.meta.state import MetaSandbox
from herald.sandboxes.oauth import Grant, GrantRejected, TokenRejected

ACCOUNT_FIELDS = frozenset({"id", "name", "access_token", "category", "category_list", "tasks"})
DEFAULT_ACCOUNT_FIELDS = ("access_token", "category", "category_list", "name", "id", "tasks")
PAGE_TASKS = ("ADVERTISE", "ANALYZE", "CREATE_CONTENT", "MESSAGING", "MODERATE", "MANAGE")
DATA_ACCESS = dt.timedelta(days=90)


def dialog_router(sandbox: MetaSandbox) -> APIRouter:
    """``GET /{version}/dialog/oauth`` (www.facebook.com in reality): consent is automatic.

    Sandbox-only parameters: ``account`` picks the consenting user (default: the first configured user; an
    unknown name becomes a new user with one Page), ``deny=1`` answers as a user who refused.
    """
    router = APIRouter(tags=["facebook login"])

    @router.get("/dialog/oauth", include_in_schema=False)
    @router.get("/{version}/dialog/oauth")
    async def dialog(request: Request, version: str | None = None) -> Response:
        if sandbox.versions.serve(version) is None:
            return PlainTextResponse(f"Unsupported version {version}", status_code=400)
        return _consent(sandbox, dict(request.query_params))

    return router


def _consent(sandbox: MetaSandbox, params: dict[str, str]) -> Response:
    client_id, redirect_uri, state = params.get("client_id", ""), params.get("redirect_uri"), params.get("state")
    if client_id not in sandbox.config.clients:
        return PlainTextResponse("Invalid App ID: The provided app ID does not look like a valid app ID.", 400)
    if not redirect_uri:
        return PlainTextResponse("URL blocked: a redirect_uri is required.", 400)
    answer: dict[str, str]
    if params.get("deny") in ("1", "true"):
        answer = {
            "error": "access_denied",
            "error_code": "200",
            "error_description": "Permissions error",
            "error_reason": "user_denied",
        }
    else:
        user = sandbox.directory.user(params.get("account") or sandbox.config.users[0].id)
        scopes = tuple(s.strip() for s in params.get("scope", "").replace(" ", ",").split(",") if s.strip())
        code = sandbox.state.tokens.issue_code(
            account=user.id,
            client_id=client_id,
            redirect_uri=redirect_uri,
            scopes=scopes,
            challenge=params.get("code_challenge"),
            method=params.get("code_challenge_method", "plain") if params.get("code_challenge") else None,
        )
        answer = {"code": code}
    if state is not None:
        answer["state"] = state
    separator = "&" if "?" in redirect_uri else "?"
    # Facebook appends "#_=_" to the redirect (a long-standing quirk clients must tolerate).
    return RedirectResponse(f"{redirect_uri}{separator}{urlencode(answer)}#_=_", status_code=302)


async def access_token(call: GraphCall) -> Response:
    """``GET|POST /{version}/oauth/access_token``: code exchange, ``fb_exchange_token``, ``client_credentials``."""
    fault = await take_fault(call, Operation.TOKEN, _token_account(call), page_id=None)
    client_id = call.param("client_id") or ""
    secret = call.sandbox.config.clients.get(client_id)
    if secret is None:
        call.fail(BAD_CLIENT_ID)
    if call.param("client_secret") != secret:
        call.fail(BAD_CLIENT_SECRET)
    grant_type = call.param("grant_type")
    if grant_type == "fb_exchange_token":
        body = _exchange(call, client_id)
    elif grant_type == "client_credentials":
        body = {"access_token": f"{client_id}|{secret}", "token_type": "bearer"}
    elif call.param("code"):
        body = _redeem(call, client_id)
    else:
        call.fail(MISSING_GRANT)
    return await finish(call, fault, call.reply(body))


def _token_account(call: GraphCall) -> str | None:
    """The user a token call is for, when it can be told without side effects (for per-account faults)."""
    token = call.param("fb_exchange_token")
    if not token:
        return None
    try:
        return call.sandbox.state.tokens.check(token).account
    except TokenRejected:
        return None


def _redeem(call: GraphCall, client_id: str) -> dict[str, Any]:
    tokens = call.sandbox.state.tokens
    try:
        grant = tokens.redeem_code(
            call.param("code") or "",
            client_id=client_id,
            redirect_uri=call.param("redirect_uri") or "",
            verifier=call.param("code_verifier"),
        )
    except GrantRejected as rejected:
        call.fail(REDIRECT_MISMATCH if "redirect_uri" in rejected.description else BAD_CODE)
    # The shared authority mints with its default lifetime (none, for Page tokens): a code yields a short-lived
    # user token, so set its expiry here (the grant is not visible to anyone else yet).
    ttl = call.sandbox.config.short_lived_ttl
    grant.expires_at = call.now + ttl
    return {"access_token": grant.access_token, "token_type": "bearer", "expires_in": int(ttl.total_seconds())}


def _exchange(call: GraphCall, client_id: str) -> dict[str, Any]:
    """A valid user token → a new long-lived user token; a Page token → itself (Page tokens do not expire)."""
    sandbox, token = call.sandbox, call.param("fb_exchange_token") or ""
    try:
        grant = sandbox.state.tokens.check(token)
    except TokenRejected as rejected:
        call.fail(token_error(rejected.problem, call.now))
    if grant.client_id != client_id:
        call.fail(INVALID_TOKEN)
    sandbox.state.tokens.token_requests[grant.account] += 1
    if not sandbox.directory.is_user(grant.account):
        return {"access_token": token, "token_type": "bearer"}
    ttl = sandbox.config.long_lived_ttl
    fresh = sandbox.state.tokens.mint(grant.account, grant.scopes, client_id=client_id, access_ttl=ttl)
    sandbox.long_lived.add(fresh.access_token)
    return {"access_token": fresh.access_token, "token_type": "bearer", "expires_in": int(ttl.total_seconds())}


async def accounts(call: GraphCall) -> Response:
    """``GET /me/accounts``: the user's Pages with Page tokens (``tasks`` include ``CREATE_CONTENT``)."""
    caller = authenticate(call)
    fault = await take_fault(call, Operation.READ, caller.account, page_id=None)
    if caller.is_page:
        call.fail(NO_SUCH_FIELD.with_message(NO_SUCH_FIELD.message.format(field="accounts", node="Page")))
    fields = call.fields(ACCOUNT_FIELDS, DEFAULT_ACCOUNT_FIELDS, "Page")
    pages = call.sandbox.directory.user(caller.account).pages
    start, limit = _offset(call), min(max(call.int_param("limit", 25), 1), 100)
    items = [_account(call, caller.grant, page.id, fields) for page in pages[start : start + limit]]
    body: dict[str, Any] = {"data": items}
    if items:
        body["paging"] = {"cursors": {"before": _encode(start), "after": _encode(start + len(items) - 1)}}
        if start + limit < len(pages):
            body["paging"]["next"] = str(call.request.url.include_query_params(after=_encode(start + limit - 1)))
    return await finish(call, fault, call.reply(body))


def _account(call: GraphCall, user: Grant, page_id: str, fields: tuple[str, ...]) -> dict[str, Any]:
    page = call.sandbox.directory.page(page_id)
    values: dict[str, Any] = {
        "access_token": call.sandbox.page_token(user, page.id, call.now),
        "category": page.category,
        "category_list": [{"id": "2211", "name": page.category}],
        "name": page.name,
        "id": page.id,
        "tasks": list(PAGE_TASKS),
    }
    return {name: values[name] for name in fields}


def _encode(index: int) -> str:
    return base64.urlsafe_b64encode(str(index).encode()).decode()


def _offset(call: GraphCall) -> int:
    raw = call.param("after")
    if not raw:
        return 0
    try:
        return int(base64.urlsafe_b64decode(raw.encode()).decode()) + 1
    except (ValueError, binascii.Error):
        return call.fail(INVALID_PARAMETER.with_message("(#100) The after cursor is invalid"))


async def debug_token(call: GraphCall) -> Response:
    """``GET /debug_token?input_token=…&access_token={app_id}|{app_secret}`` (or any valid token)."""
    fault = await take_fault(call, Operation.READ, None, page_id=None)
    _check_inspector(call)
    token = call.param("input_token") or ""
    tokens = call.sandbox.state.tokens
    try:
        grant = tokens.check(token)
    except TokenRejected as rejected:
        spec = token_error(rejected.problem, call.now)
        error = {"code": spec.code, "message": spec.message, **({"subcode": spec.subcode} if spec.subcode else {})}
        return await finish(call, fault, call.reply({"data": {"is_valid": False, "error": error, "scopes": []}}))
    return await finish(call, fault, call.reply({"data": _token_info(call, grant)}))


def _check_inspector(call: GraphCall) -> None:
    inspector = call.param("access_token") or ""
    app_id, bar, secret = inspector.partition("|")
    if bar:
        if call.sandbox.config.clients.get(app_id) != secret:
            call.fail(INVALID_TOKEN)
        return
    authenticate(call)


def _token_info(call: GraphCall, grant: Grant) -> dict[str, Any]:
    sandbox = call.sandbox
    is_user = sandbox.directory.is_user(grant.account)
    info: dict[str, Any] = {
        "app_id": grant.client_id,
        "type": "USER" if is_user else "PAGE",
        "application": sandbox.config.app_name,
        "data_access_expires_at": int((call.now + DATA_ACCESS).timestamp()),
        "expires_at": int(grant.expires_at.timestamp()) if grant.expires_at else 0,  # 0 = never
        "is_valid": True,
        "scopes": list(grant.scopes),
        "user_id": grant.account if is_user else (sandbox.directory.owner(grant.account) or grant.account),
    }
    if not is_user:
        info["profile_id"] = grant.account
    return info
