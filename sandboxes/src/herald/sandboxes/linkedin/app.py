"""The LinkedIn sandbox: a fast, in-memory emulator of the parts of LinkedIn Herald uses.

Run it with ``python -m herald.sandboxes linkedin`` (port 9102). Point a client at it by replacing
``https://api.linkedin.com`` and ``https://www.linkedin.com`` with the sandbox's base URL.

Routes
    ``GET  /oauth/v2/authorization``    consent, auto-approved: 302 to ``redirect_uri?code=…&state=…``.
                                        Sandbox extras: ``account=<member sub>`` (who consents, default
                                        ``config.default_member``), ``decision=deny`` (member cancels).
                                        PKCE is checked only if the request carried ``code_challenge``.
    ``POST /oauth/v2/accessToken``      ``authorization_code`` and ``refresh_token`` grants (form body with
                                        ``client_id``/``client_secret``). Access tokens live 60 days
                                        (``expires_in`` 5184000); the refresh token is returned unchanged and its
                                        ``refresh_token_expires_in`` counts down from 365 days. A dead refresh token
                                        answers ``400 invalid_request`` "The provided authorization grant or refresh
                                        token is invalid, expired or revoked".
    ``POST /oauth/v2/introspectToken``  ``active``, ``status``, ``expires_at``, ``scope``.
    ``GET  /v2/userinfo``               OpenID userinfo (``sub``, ``name``, …); needs ``openid profile``.
    ``POST /rest/posts``                201 + ``x-restli-id: urn:li:share:…`` + empty body. Checks, in order:
                                        ``LinkedIn-Version`` (400 VERSION_MISSING / 426 NONEXISTENT_VERSION),
                                        ``X-Restli-Protocol-Version: 2.0.0``, the bearer token (401 bodies),
                                        JSON (400 ILLEGAL_ARGUMENT), schema (422 ``ERROR :: /field :: …``: required
                                        and unknown fields, enums), author permission (403 ACCESS_DENIED), the
                                        3,000 UTF-16-unit commentary limit (422), duplicates (same author and
                                        commentary within ``duplicate_window`` → 422 DUPLICATE_POST naming the
                                        existing URN), the optional daily post limit (429).
    ``GET  /rest/posts?q=author&author=…&sortBy=&start=&count=``  newest first; a person author needs
                                        ``r_member_social`` (closed permission) and an organization
                                        ``r_organization_social`` plus a role, else 403.
    ``GET|DELETE /rest/posts/{urn}``    read one post / delete it (204).
    ``POST /rest/images?action=initializeUpload``   ``{"initializeUploadRequest": {"owner"}}`` -> ``{"value":
                                        {"uploadUrlExpiresAt", "uploadUrl", "image"}}``.
    ``POST /rest/videos?action=initializeUpload``   ``{"initializeUploadRequest": {"owner", "fileSizeBytes",
                                        "uploadCaptions", "uploadThumbnail"}}`` -> ``{"value": {"uploadUrlsExpireAt",
                                        "video", "uploadInstructions": [{"uploadUrl", "firstByte", "lastByte"}],
                                        "uploadToken"}}`` (``video_part_bytes`` per instruction).
    ``PUT  /dms-uploads/{key}``         the upload URLs: single use, until they expire; an image answers 201, a video
                                        part 200 + ``ETag`` and must be exactly its byte range.
    ``POST /rest/videos?action=finalizeUpload``     ``{"finalizeUploadRequest": {"video", "uploadToken",
                                        "uploadedPartIds"}}`` (the ETags in instruction order) -> 200, processing.
    ``GET  /rest/images/{urn}`` / ``GET /rest/videos/{urn}``  ``{"id", "owner", "status"}``: ``WAITING_UPLOAD`` ->
                                        ``PROCESSING`` -> ``AVAILABLE`` | ``PROCESSING_FAILED``. A post whose
                                        ``content.media`` / ``content.multiImage`` names an unknown or not AVAILABLE
                                        asset is refused (422), one owned by someone else 400 (see ``media``).
    ``GET  /_sandbox/linkedin/media``   assets and media call counts; ``POST …/{urn}/expire`` expires its upload URLs.
    ``GET  /rest/organizationAcls?q=roleAssignee``  Pages the member has a role on (``rw_organization_admin``).
    ``GET  /rest/organizations/{id}``   ``localizedName`` of a Page.
    ``GET  /healthz``                   liveness.
    ``/_sandbox/*``                     the shared control API (``herald.sandboxes.control``).

Accounts
    Members are named by their OpenID ``sub`` (``sandbox-member`` by default; its person URN is
    ``urn:li:person:sandbox-member``). That name is the ``account`` of tokens, faults and ``/_sandbox/posts`` for
    posts authored by the member. Posts authored by a Page use the Page URN (``urn:li:organization:1001``, which
    ``sandbox-member`` administers by default) as their account. Tokens minted by ``POST /_sandbox/tokens`` with
    no scopes get ``config.default_scopes`` (no ``r_member_social``). Stored posts keep the raw ``commentary`` as
    ``text`` and show ``rendered``: the text a reader would see, truncated at the first unescaped little-text
    reserved character, as LinkedIn does.

Faults (``POST /_sandbox/faults``)
    Create faults match the post's author account; read faults the author (posts) or member (identity); token
    faults (``operation=token``) apply to every account, so arm them without ``account``.
    ``kind=error`` names for create/read: ``server_error`` (500 INTERNAL_SERVER_ERROR), ``service_unavailable``
    (503), ``gateway_timeout`` (504), ``rate_limited`` (429 TOO_MANY_REQUESTS, reset at the next UTC midnight),
    ``duplicate`` (422 DUPLICATE_POST naming the author's newest post), ``expired_token`` (401 65602),
    ``invalid_token`` (401 65600), ``revoked_token`` (401 65601), ``missing_token`` (401 "Empty
    oauth2_access_token"), ``access_denied`` (403), ``bad_request`` (400 ILLEGAL_ARGUMENT), ``validation_error``
    (422), ``version_missing`` (400), ``nonexistent_version`` (426).
    ``kind=error`` names for the token endpoint: ``server_error`` (500), ``service_unavailable`` (503),
    ``rate_limited`` (429), ``invalid_request`` / ``expired_token`` / ``revoked_token`` (400 invalid_request, dead
    grant), ``invalid_grant`` (400 invalid_grant), ``invalid_client`` (401), ``bad_request`` (400 missing
    ``client_secret``). An unknown name answers 500 with a message listing the known ones.
    ``operation=upload`` faults (matched on the asset owner's account) answer the media upload calls (initialize,
    byte upload, finalize) with the ``kind=error`` names above; an ``operation=processing`` fault makes the next
    uploaded asset end ``PROCESSING_FAILED`` with its ``error`` as the reason.
    ``kind=rate_limit`` answers 429 until ``until``; ``accept_then_fail`` stores the post (or issues the tokens)
    and then answers 503, drops the connection, or holds the answer ``latency_ms``; ``latency`` delays the call.

Rate limits
    LinkedIn's limits are daily, unpublished, and reset at midnight UTC; its 429 carries no reset header
    (https://learn.microsoft.com/en-us/linkedin/shared/api-guide/concepts/rate-limits; observed).
    The sandbox adds ``Retry-After`` (seconds) to every 429 so that clients' hint handling can be tested; set
    ``send_retry_after=False`` for the bare real form. Successful answers carry no rate-limit headers, as on
    LinkedIn. ``daily_post_limit`` (off by default so benchmarks are not throttled) emulates the ~150 posts per
    member per day.

Configuration: :class:`~herald.sandboxes.linkedin.config.LinkedInSandboxConfig` (members, Pages and roles, client
credentials, token lifetimes, ``issue_refresh_tokens=False`` for apps without programmatic refresh,
``refresh_error``, active version window, duplicate window, daily limit, ``send_retry_after``).
"""

from __future__ import annotations

from fastapi import FastAPI

from herald.sandboxes.control import control_router
from herald.sandboxes.linkedin.authorization import Authorization
from herald.sandboxes.linkedin.config import LinkedInSandboxConfig
from herald.sandboxes.linkedin.gateway import Gateway
from herald.sandboxes.linkedin.media import Media, media_control_router
from herald.sandboxes.linkedin.members import Members
from herald.sandboxes.linkedin.posts import Posts
from herald.sandboxes.linkedin.state import new_state
from herald.sandboxes.linkedin.versions import VersionPolicy


def create_app(config: LinkedInSandboxConfig | None = None) -> FastAPI:
    """Build a LinkedIn sandbox with its own in-memory state (``app.state.sandbox``)."""
    config = config or LinkedInSandboxConfig()
    state = new_state(config)
    gateway = Gateway(state, config, VersionPolicy.from_config(config))
    app = FastAPI(title="Herald LinkedIn sandbox", docs_url="/_sandbox/docs", openapi_url="/_sandbox/openapi.json")
    app.state.sandbox = state
    app.state.config = config
    app.include_router(Authorization(state, config).router())
    app.include_router(Members(state, config, gateway).router())
    app.include_router(Posts(state, config, gateway).router())
    app.include_router(Media(state, config, gateway).router())
    app.include_router(control_router(state))
    app.include_router(media_control_router(state))

    @app.get("/healthz", tags=["sandbox control"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
