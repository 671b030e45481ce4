"""HTTP: the internal API for publishers and the team API. Thin: parse, call a use case, map refusals to HTTP.

Internal (service credential ``svc_publisher-<platform>_...``; a publisher reads only its platform's accounts)
    ``GET  /internal/v1/accounts/{id}/access-token``  a usable token, refreshed first if it expires soon
                                                      (optional ``X-Correlation-Id``: copied to the events)
    ``POST /internal/v1/accounts/{id}/refresh``       forced refresh after a platform 401; body
                                                      ``{"rejected_access_token_sha256": "<hex>"}`` (optional)
    ``POST /internal/v1/accounts/{id}/reauth-required`` the platform refused the grant: flag it once (204)
Team (API key ``hk_...``; other teams' accounts answer 404)
    ``POST   /v1/accounts/connect/{platform}``        ``{"redirect_uri": optional}`` -> consent URL + state
    ``GET    /v1/oauth/{platform}/callback``          (no key: the state authenticates) -> ``{"accounts": [...]}``
    ``GET    /v1/accounts``, ``GET /v1/accounts/{id}``, ``DELETE /v1/accounts/{id}`` (disconnect, 204)

Refusals (see :mod:`herald.tokens.errors`) answer ``{"detail": {"error": "<code>", "message": ...}}``, except
404/403 (``{"detail": "<message>"}``) and 422 (FastAPI's validation shape, naming the field).
"""

# No ``from __future__ import annotations``: FastAPI must evaluate the route signatures, whose dependency aliases
# are local to the router factories.
import datetime as dt
import math
import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Body, Depends, FastAPI, Header, Query, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from herald.contracts.media import Surface
from herald.contracts.platform import Platform
from herald.kit.api import NOT_FOUND, TEAM_API_RESPONSES, UNAUTHORIZED, ApiModel
from herald.kit.auth import ServicePrincipal, TeamPrincipal
from herald.tokens.accounts import AccountDirectory
from herald.tokens.connect import ConnectService
from herald.tokens.errors import (
    AccountNotFound,
    AccountUnusable,
    AuthorizationDenied,
    CallerForbidden,
    ConnectFailed,
    ConnectNotConfigured,
    InvalidRedirectUri,
    InvalidState,
    PlatformNotConfigured,
    RefreshUnavailable,
    TokensError,
    TokenUnreadable,
)
from herald.tokens.models import AccountRow, AccountStatus
from herald.tokens.service import IssuedToken, TokenService

ServiceAuth = Callable[[Request], Awaitable[ServicePrincipal]]
TeamAuth = Callable[[Request], Awaitable[TeamPrincipal]]


class ReauthIn(ApiModel):
    """A publisher's report that the platform refused an account's grant (revoked: a human must reconnect)."""

    rejected_access_token_sha256: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{64}$")
    reason: str = Field(default="reconnect required", max_length=500)


class AccessTokenOut(BaseModel):
    account_id: uuid.UUID
    team_id: uuid.UUID
    platform: Platform
    platform_account_id: str
    surface: Surface = Field(default=Surface.DEFAULT, description="Meta: a Facebook Page or an Instagram account.")
    access_token: str
    expires_at: dt.datetime | None = Field(description="When the token expires (UTC); null if it does not.")

    @classmethod
    def of(cls, token: IssuedToken) -> "AccessTokenOut":
        return cls(
            account_id=token.account_id,
            team_id=token.team_id,
            platform=token.platform,
            platform_account_id=token.platform_account_id,
            surface=token.surface,
            access_token=token.access_token,
            expires_at=token.expires_at,
        )


class RefreshIn(ApiModel):
    rejected_access_token_sha256: str | None = Field(
        default=None,
        pattern=r"^[0-9a-fA-F]{64}$",
        description="SHA-256 (hex) of the token the platform refused; skips the refresh if it was already replaced.",
    )


class ConnectIn(ApiModel):
    redirect_uri: str | None = Field(
        default=None, max_length=2000, description="Where the platform sends the user back (default: our callback)."
    )


class AuthorizationOut(BaseModel):
    authorization_url: str
    state: str
    expires_at: dt.datetime


class AccountOut(BaseModel):
    """A connected account as the team sees it: status and expiry, never a token."""

    id: uuid.UUID
    team_id: uuid.UUID
    platform: Platform
    platform_account_id: str
    surface: Surface = Field(description="Meta: a Facebook Page or an Instagram account; `default` elsewhere.")
    account_name: str
    status: AccountStatus
    status_reason: str | None
    is_active: bool
    scopes: list[str]
    expires_at: dt.datetime | None
    refresh_expires_at: dt.datetime | None
    has_refresh_token: bool
    last_used_at: dt.datetime | None
    last_refreshed_at: dt.datetime | None
    created_at: dt.datetime
    modified_at: dt.datetime

    @classmethod
    def of(cls, row: AccountRow) -> "AccountOut":
        return cls(
            id=row.id,
            team_id=row.team_id,
            platform=row.platform,
            platform_account_id=row.platform_account_id,
            surface=row.surface,
            account_name=row.account_name,
            status=row.status,
            status_reason=row.status_reason,
            is_active=row.is_active,
            scopes=list(row.scopes),
            expires_at=row.expires_at,
            refresh_expires_at=row.refresh_expires_at,
            has_refresh_token=row.refresh_token is not None,
            last_used_at=row.last_used_at,
            last_refreshed_at=row.last_refreshed_at,
            created_at=row.created_at,
            modified_at=row.modified_at,
        )


class AccountsOut(BaseModel):
    accounts: list[AccountOut]


def internal_router(tokens: TokenService, service_auth: ServiceAuth) -> APIRouter:
    router = APIRouter(
        prefix="/internal/v1",
        tags=["internal"],
        responses={401: UNAUTHORIZED, 403: {"description": "Another platform's account."}, 404: NOT_FOUND},
    )
    Caller = Annotated[ServicePrincipal, Depends(service_auth)]
    Correlation = Annotated[
        str | None,
        Header(alias="X-Correlation-Id", max_length=255, description="Copied to the events a refresh causes."),
    ]

    @router.get("/accounts/{account_id}/access-token", response_model=AccessTokenOut)
    async def access_token(
        account_id: uuid.UUID, caller: Caller, response: Response, correlation: Correlation = None
    ) -> AccessTokenOut:
        response.headers["Cache-Control"] = "no-store"  # RFC 6749 5.1: token answers are never cached
        return AccessTokenOut.of(await tokens.access_token(caller.service, account_id, correlation))

    @router.post("/accounts/{account_id}/refresh", response_model=AccessTokenOut)
    async def refresh(
        account_id: uuid.UUID,
        caller: Caller,
        response: Response,
        body: Annotated[RefreshIn | None, Body()] = None,
        correlation: Correlation = None,
    ) -> AccessTokenOut:
        response.headers["Cache-Control"] = "no-store"
        rejected = body.rejected_access_token_sha256 if body else None
        return AccessTokenOut.of(await tokens.force_refresh(caller.service, account_id, rejected, correlation))

    @router.post("/accounts/{account_id}/reauth-required", status_code=status.HTTP_204_NO_CONTENT)
    async def reauth_required(
        account_id: uuid.UUID,
        caller: Caller,
        body: Annotated[ReauthIn, Body()],
        correlation: Correlation = None,
    ) -> Response:
        await tokens.report_reauth_required(
            caller.service, account_id, body.rejected_access_token_sha256, body.reason, correlation
        )
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    return router


def team_router(connect: ConnectService, directory: AccountDirectory, team_auth: TeamAuth) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["accounts"], responses=TEAM_API_RESPONSES)
    Team = Annotated[TeamPrincipal, Depends(team_auth)]

    @router.post(
        "/accounts/connect/{platform}",
        response_model=AuthorizationOut,
        responses={503: {"description": "The platform, or the redirect allow-list, is not configured."}},
    )
    async def start_connect(
        platform: Platform, team: Team, body: Annotated[ConnectIn | None, Body()] = None
    ) -> AuthorizationOut:
        started = await connect.start(team, platform, body.redirect_uri if body else None)
        return AuthorizationOut(
            authorization_url=started.authorization_url, state=started.state, expires_at=started.expires_at
        )

    @router.get(
        "/oauth/{platform}/callback",
        response_model=AccountsOut,
        responses={
            400: {
                "description": "The state is forged, unknown, already used or expired (`invalid_state`), or the user"
                " refused consent (`authorization_denied`)."
            },
            502: {"description": "The platform's code exchange or identity lookup failed (`connect_failed`)."},
        },
    )
    async def callback(
        platform: Platform,
        state: Annotated[str, Query(min_length=1, max_length=500)],
        code: Annotated[str | None, Query(max_length=2000)] = None,
        error: Annotated[str | None, Query(max_length=200)] = None,
        error_description: Annotated[str, Query(max_length=1000)] = "",
    ) -> AccountsOut:
        rows = await connect.complete(platform, code=code, state=state, error=error, description=error_description)
        return AccountsOut(accounts=[AccountOut.of(row) for row in rows])

    @router.get("/accounts", response_model=AccountsOut)
    async def list_accounts(team: Team, platform: Platform | None = None) -> AccountsOut:
        return AccountsOut(accounts=[AccountOut.of(row) for row in await directory.list(team, platform)])

    @router.get("/accounts/{account_id}", response_model=AccountOut)
    async def show_account(account_id: uuid.UUID, team: Team) -> AccountOut:
        return AccountOut.of(await directory.get(team, account_id))

    @router.delete("/accounts/{account_id}", status_code=status.HTTP_204_NO_CONTENT)
    async def disconnect(account_id: uuid.UUID, team: Team) -> Response:
        await directory.disconnect(team, account_id)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    return router


def _problem(status_code: int, error: str, message: str, **extra: object) -> JSONResponse:
    return JSONResponse({"detail": {"error": error, "message": message, **extra}}, status_code=status_code)


def error_response(failure: TokensError) -> JSONResponse:
    """The HTTP answer for a refusal."""
    match failure:
        case AccountNotFound():
            return JSONResponse({"detail": "account not found"}, status_code=404)
        case CallerForbidden():
            return JSONResponse({"detail": failure.message}, status_code=403)
        case AccountUnusable():
            return _problem(409, failure.error, failure.message, account_id=str(failure.account_id))
        case RefreshUnavailable():
            seconds = max(1, math.ceil(failure.retry_after_seconds))
            response = _problem(
                503, "refresh_unavailable", failure.message, account_id=str(failure.account_id), retry_after=seconds
            )
            response.headers["Retry-After"] = str(seconds)
            return response
        case TokenUnreadable():
            return _problem(500, "token_unreadable", failure.message)
        case PlatformNotConfigured():
            return _problem(503, "platform_not_configured", failure.message)
        case ConnectNotConfigured():
            return _problem(503, "connect_not_configured", failure.message)
        case InvalidRedirectUri():
            detail = [{"loc": ["body", "redirect_uri"], "msg": failure.message, "type": "value_error"}]
            return JSONResponse({"detail": detail}, status_code=422)
        case InvalidState():
            return _problem(400, "invalid_state", failure.message)
        case AuthorizationDenied():
            return _problem(400, "authorization_denied", failure.message)
        case ConnectFailed():
            return _problem(502, "connect_failed", failure.message, transient=failure.transient)
    return _problem(500, "internal_error", "unexpected refusal")


def install_error_handlers(app: FastAPI) -> None:
    async def handle(_request: Request, failure: Exception) -> JSONResponse:
        assert isinstance(failure, TokensError)
        return error_response(failure)

    app.add_exception_handler(TokensError, handle)
