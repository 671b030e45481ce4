"""The Facebook Pages (Meta Graph API) sandbox: ``create_app(config) -> FastAPI``.

Run it with ``python -m herald.sandboxes meta`` (port 9103). Point ``MetaSettings`` (or the official SDK's
``FacebookSession.GRAPH``) at it; the Login dialog, token endpoint and Graph share the host.

Routes
    ``GET /{version}/dialog/oauth``   Login dialog, auto-consent, 302 to ``redirect_uri?code=…&state=…#_=_``
                                      (sandbox params: ``account`` = consenting user, ``deny=1``)
    ``GET|POST /{version}/oauth/access_token``  code exchange (short-lived user token, 1 h),
                                      ``grant_type=fb_exchange_token`` (long-lived, 60 days), ``client_credentials``
    ``GET /{version}/debug_token``    token inspection (``expires_at`` 0 = never)
    ``GET /{version}/me``, ``GET /{version}/me/accounts``  identity; Pages with their Page tokens
    ``POST /{version}/{page-id}/feed``  publish (``message``, ``link``, ``published``, ``scheduled_publish_time``,
                                      ``fields``) from query, form or JSON → ``{"id": "{page_id}_{post_id}"}``
    ``GET /{version}/{page-id}/published_posts|posts|feed``  read-back (``since``, ``until``, ``limit``, ``after``)
    ``GET|DELETE /{version}/{post-id}``, ``GET /{version}/{page-id}``
    ``POST /{version}/{page-id}/photos`` (``url`` or multipart ``source``, ``caption``, ``published``),
    ``POST /{version}/{page-id}/videos`` (``file_url`` or ``source``, ``description``; or the resumable
    ``upload_phase=start|transfer|finish``, ranges of ``config.video_chunk_bytes``), ``attached_media`` on feed
    posts, and Instagram content publishing (``/{ig-user-id}/media``, ``/media_publish``,
    ``/content_publishing_limit``, ``GET /{container-id}``): see :mod:`herald.sandboxes.meta.media` and
    :mod:`herald.sandboxes.meta.instagram`
    ``/_sandbox/*`` control API (shared), ``/_sandbox/meta/*`` (container faults, media settings, media call
    counts, containers and Page uploads with the SHA-256 of their bytes), ``GET /healthz``
    The version segment is optional (unversioned calls use ``default_version``); expired versions are served by
    the oldest active one (header ``facebook-api-version`` names it); unknown versions get code 2500.

Tokens
    The token is the ``access_token`` parameter or ``Authorization: Bearer|OAuth``; ``appsecret_proof`` is
    verified when sent. Accounts that are configured users hold user tokens; every other account is a Page
    (``POST /_sandbox/tokens {"account": "<page id>"}`` mints a non-expiring Page token). Posting with a user
    token, or another Page's token → 403 ``(#200)``; a token without scopes may do everything, one with scopes
    needs ``pages_manage_posts`` / ``pages_read_engagement``. Expired → 190/463, revoked (also a revoked user's
    derived Page tokens: simulated password change) → 190/460, unknown → 190.

Fault ``error`` names (``kind=error``; ``operation`` create = ``POST …/feed``, read = the GETs, token =
``/oauth/access_token``)
    ``server_error`` 500 code 2 is_transient · ``unknown_error`` 500 code 1 is_transient ·
    ``service_unavailable`` 503 code 2 · ``rate_limited`` 80001 (Pages BUC) · ``app_rate_limited`` 4 ·
    ``user_rate_limited`` 17/2446079 · ``page_rate_limited`` 32 · ``custom_rate_limited`` 613 · ``feed_limit`` 341 ·
    ``posting_too_fast`` 368/1390008 · ``policy_blocked`` 368 · ``duplicate`` 506 · ``expired_token`` 190/463 ·
    ``revoked_token`` 190/460 · ``invalid_token`` 190 · ``logged_out`` 190/467 · ``deauthorized`` 190/458 ·
    ``permission_denied`` 403 code 200 · ``bad_request`` 100 · ``link_error`` 1609005.
    Throttles use ``config.throttle_status`` (400 by default, as Graph does) with usage headers whose
    ``estimated_time_to_regain_access`` is ``config.default_regain_minutes``.

Other fault kinds
    ``rate_limit``: Page calls get 80001 with ``X-Business-Use-Case-Usage`` ``estimated_time_to_regain_access``
    = minutes until ``until`` (rounded up); token/user calls get code 4 with ``X-App-Usage`` (no reset hint on
    Meta). ``accept_then_fail``: the post is stored, then 503 code 2 / a held response / a dropped connection.
    ``latency``: delays the call.

Config (:class:`~herald.sandboxes.meta.config.MetaSandboxConfig`): versions and expiries, ``default_version``,
users and their Pages, OAuth ``clients``, token lifetimes, ``duplicate_window`` (24 h), ``throttle_status``,
``token_error_status``, ``page_calls_per_day`` (BUC budget, unlimited by default), ``default_regain_minutes``.

Every create is counted in ``state.create_requests[page id]``; the app's :class:`MetaSandbox` is
``app.state.meta``.
"""

from __future__ import annotations

import datetime as dt

from fastapi import FastAPI

from herald.sandboxes.control import SandboxState, control_router
from herald.sandboxes.ledger import PostLedger
from herald.sandboxes.meta.config import MetaSandboxConfig, VersionPolicy
from herald.sandboxes.meta.graph import graph_router
from herald.sandboxes.meta.login import dialog_router
from herald.sandboxes.meta.media_control import media_control_router
from herald.sandboxes.meta.state import Directory, MetaSandbox
from herald.sandboxes.meta.usage import UsageMeter
from herald.sandboxes.oauth import TokenAuthority

TOKEN_PREFIX = "EAAH"  # Graph tokens start with "EAA"


def build_sandbox(config: MetaSandboxConfig) -> MetaSandbox:
    """The sandbox's state. The token authority has no default expiry (Page tokens never expire; user tokens
    get theirs explicitly) and no refresh tokens (Meta has no refresh grant)."""
    tokens = TokenAuthority(prefix=TOKEN_PREFIX, access_ttl=None, issue_refresh=False, clients=dict(config.clients))
    state = SandboxState(tokens=tokens, posts=PostLedger(first_id=config.first_post_number))
    return MetaSandbox(
        config=config,
        state=state,
        versions=VersionPolicy(config, dt.datetime.now(dt.UTC).date()),
        directory=Directory(config.users),
        usage=UsageMeter(config.page_calls_per_day),
    )


def create_app(config: MetaSandboxConfig | None = None) -> FastAPI:
    """The Meta sandbox as an ASGI app."""
    sandbox = build_sandbox(config or MetaSandboxConfig())
    app = FastAPI(
        title="Herald Meta sandbox",
        description=__doc__,
        docs_url="/_sandbox/docs",
        redoc_url=None,
        openapi_url="/_sandbox/openapi.json",
    )
    app.state.meta = sandbox
    app.include_router(control_router(sandbox.state))

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    app.include_router(media_control_router(sandbox))
    app.include_router(dialog_router(sandbox))
    app.include_router(graph_router(sandbox))
    return app
