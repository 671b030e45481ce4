"""The X (Twitter API v2) sandbox: ``python -m herald.sandboxes x`` or ``create_app(XSandboxConfig(...))``.

Faithful enough that tweepy works against it unchanged apart from the host
(https://docs.x.com/x-api/posts/manage-tweets/quickstart and
https://docs.x.com/fundamentals/authentication/oauth-2-0/authorization-code). Tokens are OAuth 2.0 user access tokens
issued by the sandbox's own token endpoint or minted with ``POST /_sandbox/tokens`` (a token minted with no scopes
may do everything).

Routes
    ``GET  /healthz``
    ``GET  /i/oauth2/authorize`` (also ``/2/oauth2/authorize``): consent, auto-approved; 302 to ``redirect_uri``
    with ``state`` and ``code``. PKCE is mandatory (S256 or plain). ``?account=NAME`` picks who consents
    (default ``config.default_account``); ``?deny=1`` answers ``error=access_denied``.
    ``POST /2/oauth2/token``: ``authorization_code`` (PKCE verifier, redirect_uri exact match, code valid 30 s)
    and ``refresh_token`` (rotation: a new refresh token every time, the old one dies at once; reuse is
    ``400 invalid_request "Value passed for the token was invalid."``). Confidential clients use HTTP Basic.
    ``expires_in`` 7200.
    ``POST /2/oauth2/revoke``
    ``POST /2/tweets``: 201 ``{"data":{"edit_history_tweet_ids":[id],"id":id,"text":...}}`` with ``location`` and
    rate-limit headers; URLs come back as t.co links. Refuses unknown body fields (400 invalid-request),
    over-long text by twitter-text v3 weighting (403 "Your Tweet text is too long."), identical text from the
    same account within ``duplicate_window_seconds`` (403 duplicate content), replies to missing posts (403).
    ``GET /2/tweets/:id``, ``DELETE /2/tweets/:id``
    ``GET /2/users/me``; ``GET /2/users/:id/tweets`` (``max_results`` 5..100, ``start_time``, ``end_time``,
    ``since_id``, ``until_id``, ``pagination_token``, ``exclude``, ``tweet.fields``; ``meta.next_token``).
    Media (``herald.sandboxes.x.media``, rules in ``herald.sandboxes.x.uploads``): ``POST
    /2/media/upload/initialize``, ``/2/media/upload/{id}/append``, ``/2/media/upload/{id}/finalize``, ``GET
    /2/media/upload?command=STATUS&media_id=``, ``POST /2/media/metadata``, and v1.1's ``/1.1/media/upload.json``
    (INIT/APPEND/FINALIZE/STATUS and the one-shot upload) and ``/1.1/media/metadata/create.json`` on the same state.
    ``POST /2/tweets`` accepts ``media.media_ids`` of the caller's processed, unexpired uploads (1-4 images or one
    video/GIF); anything else is 400 "Your media IDs are invalid.".
    ``/1.1/*`` (other than media): 403 code 453 (v1.1 posting is closed to current access levels; X versions by
    path only).
    ``/_sandbox/*``: the shared control API (faults, token minting, revoke/expire, posts, stats, reset);
    ``POST /_sandbox/reset`` also forgets the X rate-limit windows.

Every API answer carries ``x-rate-limit-limit|remaining|reset`` for its endpoint (fixed 15-minute windows per user,
limits in ``config.rate_limits``; ``POST /2/tweets`` also ``x-app-limit-24hour-*``); a spent window is X's 429.

Faults (``POST /_sandbox/faults``)
    ``operation``: ``create`` (POST /2/tweets), ``read`` (GET endpoints), ``token`` (the token endpoint: arm
    with ``account: null``, the account is unknown before the grant), ``upload`` (media INIT/APPEND/FINALIZE, v2
    and v1.1), ``processing`` (any kind: the next FINALIZE's video/GIF processing ends ``failed``), ``any``.
    ``kind=error``, ``error`` one of:
        API calls: ``server_error`` (500), ``service_unavailable`` (503), ``rate_limited`` (429, reset in 15
        min), ``usage_capped`` (429 UsageCapExceeded), ``credits_depleted`` (402 CreditsDepleted),
        ``duplicate`` (403 duplicate content), ``too_long`` (403), ``expired_token`` / ``revoked_token`` /
        ``invalid_token`` (401 Unauthorized: X answers all three alike), ``not_permitted`` (403 missing scope),
        ``unsupported_authentication`` (403 app-only token), ``client_forbidden`` (403 client-not-enrolled).
        Token endpoint: ``server_error``, ``service_unavailable``, ``rate_limited``, ``invalid_request`` (400
        "Value passed for the token was invalid."), ``invalid_grant``, ``expired_token``, ``revoked_token``,
        ``bad_request`` (the last three: 400 invalid_request), ``unauthorized_client`` (401).
        An unknown name answers 500 "Sandbox Fault" naming this module.
    ``kind=rate_limit``: 429 Too Many Requests with ``x-rate-limit-remaining: 0`` and ``x-rate-limit-reset`` at
    ``until`` (epoch seconds), until then.
    ``kind=accept_then_fail``: the post is stored (or the token grant made, rotating the refresh token), then the
    answer is 503, held past the client's timeout (``mode=timeout``, ``latency_ms``), or cut (``mode=drop``); with
    ``mode=late`` a post is stored only ``latency_ms`` after its call arrived, even if the client gave up first.
    ``kind=latency``: the answer is delayed by ``latency_ms``.

Configuration: :class:`~herald.sandboxes.x.config.XSandboxConfig` (accounts, OAuth clients, token lifetimes,
length limits and X Premium accounts, duplicate window, rate limits and whether they are enforced).
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response

from herald.sandboxes.control import control_router
from herald.sandboxes.x import problems
from herald.sandboxes.x.authorization import oauth_router
from herald.sandboxes.x.config import XSandboxConfig
from herald.sandboxes.x.media import media_router
from herald.sandboxes.x.runtime import XReject, XSandbox
from herald.sandboxes.x.tweets import tweets_router
from herald.sandboxes.x.users import users_router


def create_app(config: XSandboxConfig | None = None) -> FastAPI:
    """Build the X sandbox. ``app.state.sandbox`` is the :class:`XSandbox` (for in-process tests)."""
    sandbox = XSandbox.create(config or XSandboxConfig())
    app = FastAPI(title="Herald X sandbox", description=__doc__, version="2")
    app.state.sandbox = sandbox

    async def reject(request: Request, error: Exception) -> Response:
        if not isinstance(error, XReject):  # pragma: no cover - registered for XReject only
            raise error
        return error.response

    app.add_exception_handler(XReject, reject)

    @app.get("/healthz", tags=["sandbox control"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "platform": "x"}

    app.include_router(media_router(sandbox))  # before the /1.1 catch-all: v1.1 media upload stays open

    @app.api_route("/1.1/{path:path}", methods=["GET", "POST", "DELETE"], include_in_schema=False)
    async def legacy_v1(path: str) -> Response:
        """API versions are in the path; v1.1 (``statuses/update.json``...) is closed to current access levels."""
        return problems.problem(problems.V1_NOT_AVAILABLE, 403)

    @app.post("/_sandbox/reset", status_code=204, include_in_schema=False)
    async def reset() -> None:
        """Shadows the shared reset (registered first) so X's rate-limit windows are forgotten too."""
        sandbox.reset()

    app.include_router(oauth_router(sandbox))
    app.include_router(tweets_router(sandbox))
    app.include_router(users_router(sandbox))
    app.include_router(control_router(sandbox.state))
    return app
