"""Configuration of the Facebook Pages adapter (built by the service that owns config, then passed down)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from herald.platforms.base import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET

# Newest Graph API version with a published expiry date (2028-07-29; docs/platforms.md, "Meta: versions"). v26.0 is
# newer and also served by the sandbox; moving is a one-line settings change.
DEFAULT_API_VERSION = "v25.0"

# What a Page publisher needs (docs/platforms.md, "Meta: posting"): list the user's Pages, publish, read posts back;
# and for the Instagram professional account linked to a Page ("Instagram: connecting"): read it, publish to it.
DEFAULT_SCOPES = (
    "pages_show_list",
    "pages_manage_posts",
    "pages_read_engagement",
    "instagram_basic",
    "instagram_content_publish",
)


class MetaSettings(BaseModel):
    """Facebook Pages (Meta Graph API) settings.

    URL templates may contain ``{version}``, replaced with :attr:`api_version`; every URL can be pointed at the
    sandbox (``herald.sandboxes.meta`` serves all three on one host).
    """

    model_config = ConfigDict(frozen=True)

    graph_url: str = Field(default="https://graph.facebook.com", description="Graph API host, no trailing slash.")
    authorize_url: str = Field(
        default="https://www.facebook.com/{version}/dialog/oauth", description="Facebook Login dialog."
    )
    token_url: str = Field(
        default="https://graph.facebook.com/{version}/oauth/access_token",
        description="Code exchange and fb_exchange_token endpoint.",
    )
    api_version: str = Field(default=DEFAULT_API_VERSION, pattern=r"^v\d+\.\d+$")
    client_id: str = Field(default="", description="The Meta app id.")
    client_secret: SecretStr = Field(default=SecretStr(""), description="The Meta app secret.")
    scopes: tuple[str, ...] = DEFAULT_SCOPES
    timeout_seconds: float = Field(default=10.0, gt=0)
    fetch_timeout_seconds: float = Field(
        default=45.0,
        gt=0,
        description="Timeout of the calls during which Facebook or Instagram fetches a media file from its URL "
        "(a Page photo or video by URL, an Instagram container): the fetch happens inside the call, and a large file "
        "under load outlasts timeout_seconds, which leaves a create's outcome unknown (a retry and read-backs).",
    )
    appsecret_proof: bool = Field(
        default=True,
        description="Send appsecret_proof (HMAC-SHA256 of the token with the app secret) with every Graph call; "
        "required by apps with 'Require App Secret' switched on, harmless otherwise.",
    )
    read_back_pages: int = Field(default=10, ge=1, description="Most pages of published_posts one read-back scans.")
    media_url_seconds: int = Field(
        default=3600,
        gt=0,
        description="Lifetime of the presigned URL Facebook or Instagram fetches a media item from.",
    )
    video_resumable_above_bytes: int = Field(
        default=1024 * 1024 * 1024,
        ge=0,
        description="Page videos larger than this are sent through the resumable upload (bytes read from Herald's "
        "store, in the ranges Facebook asks for) instead of being fetched by Facebook from a presigned URL; 0 sends "
        "every video that way (an object store Facebook cannot reach).",
    )
    video_chunk_bytes: int = Field(
        default=4 * 1024 * 1024,
        gt=0,
        description="Chunk sent when resuming a video upload before Facebook names a range.",
    )
    container_poll_seconds: float = Field(
        default=2.0, gt=0, description="Interval between Instagram container status reads."
    )
    container_wait_seconds: float = Field(
        default=120.0,
        gt=0,
        description="How long one attempt waits for an Instagram container to finish before retrying later "
        "(the container is kept and polled again by the next attempt).",
    )
    container_reuse_seconds: int = Field(
        default=23 * 3600,
        gt=0,
        description="How long a recorded Instagram container is reused: containers expire 24 h after creation.",
    )

    @classmethod
    def for_sandbox(
        cls,
        base_url: str,
        *,
        client_id: str = SANDBOX_CLIENT_ID,
        client_secret: str = SANDBOX_CLIENT_SECRET,
        **overrides: object,
    ) -> MetaSettings:
        """Settings with the Graph API, the Login dialog and the token endpoint on ``base_url`` (the sandbox)."""
        base = base_url.rstrip("/")
        values: dict[str, object] = {
            "client_id": client_id,
            "client_secret": SecretStr(client_secret),
            "graph_url": base,
            "authorize_url": f"{base}/{{version}}/dialog/oauth",
            "token_url": f"{base}/{{version}}/oauth/access_token",
            **overrides,
        }
        return cls.model_validate(values)

    def graph(self, *parts: str) -> str:
        """The versioned Graph URL of ``parts`` (already URL-safe path segments)."""
        return "/".join((self.graph_url.rstrip("/"), self.api_version, *parts))

    def dialog_url(self) -> str:
        return self.authorize_url.format(version=self.api_version)

    def access_token_url(self) -> str:
        return self.token_url.format(version=self.api_version)
