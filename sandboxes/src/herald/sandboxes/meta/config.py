"""Configuration of the Meta sandbox: Graph versions, the Facebook users and Pages it knows, token lifetimes."""

from __future__ import annotations

import datetime as dt
import re

from pydantic import BaseModel, ConfigDict, Field

# https://developers.facebook.com/docs/graph-api/changelog/versions. None = no expiry announced yet.
VERSION_EXPIRY: dict[str, dt.date | None] = {
    "v18.0": dt.date(2026, 1, 26),
    "v19.0": dt.date(2026, 5, 21),
    "v20.0": dt.date(2026, 9, 24),
    "v21.0": dt.date(2027, 1, 21),
    "v22.0": dt.date(2027, 5, 20),
    "v23.0": dt.date(2027, 10, 8),
    "v24.0": dt.date(2028, 2, 18),
    "v25.0": dt.date(2028, 7, 29),
    "v26.0": None,
}
VERSION_PATTERN = re.compile(r"^v(\d+)\.(\d+)$")


class SandboxInstagram(BaseModel):
    """An Instagram professional account linked to a Page (an IG User in Graph terms)."""

    id: str
    username: str


class SandboxPage(BaseModel):
    """A Facebook Page. Graph ids are numeric strings."""

    id: str
    name: str
    category: str = "Software"
    instagram: SandboxInstagram | None = None


class SandboxUser(BaseModel):
    """A Facebook user who can consent in the Login dialog, and the Pages they manage."""

    id: str
    name: str
    pages: list[SandboxPage] = Field(default_factory=list)


DEFAULT_USER = SandboxUser(
    id="10150000000000001",
    name="Sandbox User",
    pages=[
        SandboxPage(
            id="100000000000001",
            name="Herald Sandbox Page",
            instagram=SandboxInstagram(id="17841400000000001", username="herald.sandbox"),
        ),
        SandboxPage(id="100000000000002", name="Herald Second Page"),
    ],
)


class MetaSandboxConfig(BaseModel):
    """Everything the Meta sandbox can be told. Defaults follow Meta's documentation; the sandbox's choices are
    noted."""

    model_config = ConfigDict(frozen=True)

    versions: dict[str, dt.date | None] = Field(default_factory=lambda: dict(VERSION_EXPIRY))
    expired_versions: frozenset[str] | None = Field(
        default=None, description="Versions served as the oldest available one; None: those past expiry today."
    )
    default_version: str = Field(default="v25.0", description="The app's default version, for unversioned calls.")
    users: list[SandboxUser] = Field(default_factory=lambda: [DEFAULT_USER])
    clients: dict[str, str] = Field(default_factory=lambda: {"herald-dev": "herald-dev-secret"})
    app_name: str = "Herald Sandbox"
    short_lived_ttl: dt.timedelta = dt.timedelta(hours=1)
    long_lived_ttl: dt.timedelta = dt.timedelta(days=60)
    # How long an identical message on the same Page is refused with (#506,
    # https://developers.facebook.com/docs/graph-api/guides/error-handling): not documented.
    duplicate_window: dt.timedelta = dt.timedelta(hours=24)
    # Graph answers most errors with 400 (https://developers.facebook.com/docs/graph-api/guides/error-handling),
    # throttles included; 429 exercises status checks.
    throttle_status: int = 400
    # Code 190 is observed with both 400 and 401 (the docs give no status); 400 is the common one.
    token_error_status: int = 400
    # Pages BUC budget per Page per 24 h window (4,800 x engaged users in reality); None = unlimited.
    page_calls_per_day: int | None = None
    # estimated_time_to_regain_access (minutes) for kind=error rate-limit faults and rate_limit faults without until.
    default_regain_minutes: int = 15
    first_post_number: int = 122_100_000_000_000_001
    # Instagram containers: IN_PROGRESS for at least this long after their media is downloaded (real processing
    # takes seconds for images, minutes for video), and EXPIRED when not published within container_ttl (24 h,
    # https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-container).
    container_delay: dt.timedelta = dt.timedelta(seconds=1)
    container_ttl: dt.timedelta = dt.timedelta(hours=24)
    # Published posts per IG user per moving window (content_publishing_limit's config.quota_total / quota_duration).
    # Meta's pages give 100 (content publishing guide, older) and 50 (media_publish reference, current).
    publishing_limit: int = 100
    publishing_window: dt.timedelta = dt.timedelta(hours=24)
    # The chunk a resumable Page video upload asks for next (start_offset..end_offset); Facebook picks its own.
    video_chunk_bytes: int = Field(default=4 * 1024 * 1024, ge=1)
    # How long the sandbox waits for a url / image_url / video_url it downloads.
    fetch_timeout_seconds: float = 10.0

    def expired(self, today: dt.date) -> frozenset[str]:
        if self.expired_versions is not None:
            return self.expired_versions
        return frozenset(v for v, expiry in self.versions.items() if expiry is not None and expiry <= today)


def version_key(version: str) -> tuple[int, int]:
    match = VERSION_PATTERN.match(version)
    if match is None:
        raise ValueError(f"not a Graph API version: {version!r}")
    return int(match.group(1)), int(match.group(2))


class VersionPolicy:
    """Which version serves a call. Expired (or older) versions are served by the oldest available one.

    https://developers.facebook.com/docs/graph-api/guides/versioning: calls to an expired version are served by the
    oldest available version; that documented behaviour is what the sandbox does, and ``facebook-api-version`` says
    which version answered.
    Other versions (newer than any known one, or never released) get Graph's unknown-path error.
    """

    def __init__(self, config: MetaSandboxConfig, today: dt.date) -> None:
        expired = config.expired(today)
        active = sorted((v for v in config.versions if v not in expired), key=version_key)
        if not active:
            raise ValueError("the sandbox needs at least one active Graph API version")
        self.known = frozenset(config.versions)
        self.active = frozenset(active)
        self.oldest = active[0]
        self.newest = active[-1]
        self.default = config.default_version if config.default_version in self.active else self.newest

    def serve(self, requested: str | None) -> str | None:
        """The version that answers ``requested`` (None: unversioned), or None if there is no such version."""
        if requested is None:
            return self.default
        if requested in self.active:
            return requested
        if requested in self.known:
            return self.oldest  # expired
        if VERSION_PATTERN.match(requested) is not None and version_key(requested) < version_key(self.oldest):
            return self.oldest  # long gone (v2.x ...), also served by the oldest available version
        return None
