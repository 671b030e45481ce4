"""One realistic example of every event version.

The generator writes them next to the schemas (``schemas/<type>/v<N>.example.json``) and into the AsyncAPI
document; tests validate them against the schemas and models. Other teams may use them as test fixtures.
"""

from __future__ import annotations

import datetime as dt
from typing import TypedDict, TypeVar
from uuid import UUID

from herald.contracts.accounts import (
    AccountConnected,
    AccountDisconnected,
    AccountReauthRequired,
    TokenRefreshed,
    TokenRefreshFailed,
)
from herald.contracts.base import Event
from herald.contracts.distribution import (
    ContentApprovalWithdrawn,
    ContentApproved,
    DistributionCancelled,
    DistributionMissed,
    DistributionRescheduled,
    DistributionScheduled,
)
from herald.contracts.identity import ApiKeyCreated, ApiKeyRevoked, KeyChannel
from herald.contracts.media import (
    CleanupCategory,
    MediaCleanedUp,
    MediaDeleted,
    MediaKind,
    MediaReference,
    MediaUploaded,
    Surface,
)
from herald.contracts.operations import MessageParked, MessagePurged, MessageReplayed, ParkCategory
from herald.contracts.platform import Platform
from herald.contracts.publishing import (
    FailureReason,
    OverLengthPolicy,
    PublishFailed,
    PublishRequested,
    PublishRequestedV1,
    PublishRetryScheduled,
    PublishSucceeded,
    PublishUnconfirmed,
)

TEAM_ID = UUID("6f1c2d3e-4a5b-4c6d-8e7f-0a1b2c3d4e5f")
CONTENT_ID = UUID("0b6d9c1e-2f3a-4b5c-9d8e-7f6a5b4c3d2e")
DISTRIBUTION_ID = UUID("3a7e1f20-5b6c-4d8e-9f01-23456789abcd")
ACCOUNT_ID = UUID("9c8b7a65-4321-4fed-8cba-0987654321fe")
IMAGE_ID = UUID("5e0c4b1a-7d2f-4e8a-9b3c-6a1d2e3f4a5b")
VIDEO_ID = UUID("c2d4e6f8-1a3b-4c5d-8e7f-9a0b1c2d3e4f")
UPLOAD_ID = UUID("7b9d1f3a-5c7e-4a1b-8d2f-4e6a8c0b2d4f")
CORRELATION_ID = "dist-3a7e1f20-5b6c-4d8e-9f01-23456789abcd"
DUE = dt.datetime(2025, 3, 14, 9, 30, tzinfo=dt.UTC)
_SCHEDULER = "service:scheduler"
_PUBLISHER = "service:publisher-linkedin"
_TOKENS = "service:tokens"


class _Common(TypedDict):
    team_id: UUID
    correlation_id: str


class _Content(_Common):
    content_id: UUID


class _Distribution(_Content):
    distribution_id: UUID
    account_id: UUID
    platform: Platform


class _Account(_Common):
    account_id: UUID
    platform: Platform


class _Identity(_Account):
    platform_account_id: str
    account_name: str


class _Message(_Common):
    original_message_id: str
    original_type: str
    routing_key: str


_CONTENT = _Content(team_id=TEAM_ID, correlation_id=CORRELATION_ID, content_id=CONTENT_ID)
_LINKEDIN = _Distribution(
    **_CONTENT, distribution_id=DISTRIBUTION_ID, account_id=ACCOUNT_ID, platform=Platform.LINKEDIN
)
_ACCOUNT = _Account(team_id=TEAM_ID, correlation_id=CORRELATION_ID, account_id=ACCOUNT_ID, platform=Platform.LINKEDIN)
_IDENTITY = _Identity(**_ACCOUNT, platform_account_id="urn:li:organization:2414183", account_name="Herald Labs")
_IMAGE = MediaReference(
    media_id=IMAGE_ID,
    storage_key=f"teams/{TEAM_ID}/media/{IMAGE_ID}",
    kind=MediaKind.IMAGE,
    content_type="image/jpeg",
    size_bytes=482_113,
    sha256="9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    width=1200,
    height=1500,
    alt_text="The spring release dashboard: one calendar with posts for X, LinkedIn and Facebook",
)
_VIDEO = MediaReference(
    media_id=VIDEO_ID,
    storage_key=f"teams/{TEAM_ID}/media/{VIDEO_ID}",
    kind=MediaKind.VIDEO,
    content_type="video/mp4",
    size_bytes=18_874_368,
    sha256="60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752",
    width=1080,
    height=1920,
    duration_ms=42_500,
)
_PARKED_MESSAGE = _Message(
    team_id=TEAM_ID,
    correlation_id=CORRELATION_ID,
    original_message_id="5d41402a-bc4b-4a76-b971-9d911017c592",
    original_type="com.herald.publish.requested.v1",
    routing_key="publish.requested.v1.linkedin",
)


def _at(minutes: int) -> dt.datetime:
    return DUE + dt.timedelta(minutes=minutes)


EXAMPLES: tuple[Event, ...] = (
    ContentApproved(**_CONTENT, actor="api_key:key_01HV3", occurred_at=_at(-120), title="Spring launch"),
    ContentApprovalWithdrawn(
        **_CONTENT, actor="api_key:key_01HV3", occurred_at=_at(-60), reason="legal review pending"
    ),
    DistributionScheduled(
        **_LINKEDIN, actor="api_key:key_01HV3", occurred_at=_at(-110), scheduled_at=DUE, timezone="Europe/Berlin"
    ),
    DistributionRescheduled(
        **_LINKEDIN,
        actor="api_key:key_01HV3",
        occurred_at=_at(-100),
        previous_scheduled_at=_at(-30),
        scheduled_at=DUE,
        timezone="Europe/Berlin",
    ),
    DistributionCancelled(**_LINKEDIN, actor="api_key:key_01HV3", occurred_at=_at(-20), reason="cancelled by user"),
    DistributionMissed(
        **_LINKEDIN, actor="system", occurred_at=_at(95), scheduled_at=DUE, late_by_seconds=5700, grace_seconds=3600
    ),
    PublishRequestedV1(
        **_LINKEDIN,
        actor=_SCHEDULER,
        occurred_at=DUE,
        title="Spring launch",
        text="Our spring release is out: scheduling across X, LinkedIn and Facebook Pages.",
        link="https://example.com/blog/spring-launch",
        over_length=OverLengthPolicy.TRUNCATE,
        scheduled_at=DUE,
    ),
    PublishRequested(
        **_LINKEDIN,
        actor=_SCHEDULER,
        occurred_at=DUE,
        title="Spring launch",
        text="Our spring release is out: scheduling across X, LinkedIn and Facebook Pages.",
        link="https://example.com/blog/spring-launch",
        over_length=OverLengthPolicy.TRUNCATE,
        scheduled_at=DUE,
        surface=Surface.DEFAULT,
        media=[_IMAGE, _VIDEO],
    ),
    PublishSucceeded(
        **_LINKEDIN,
        actor=_PUBLISHER,
        occurred_at=_at(6),
        attempt=2,
        external_post_id="urn:li:share:7173000000000000000",
        url="https://www.linkedin.com/feed/update/urn:li:share:7173000000000000000/",
        title="Spring launch",
        published_at=_at(6),
        scheduled_at=DUE,
    ),
    PublishRetryScheduled(
        **_LINKEDIN,
        actor=_PUBLISHER,
        occurred_at=_at(1),
        attempt=1,
        next_attempt_at=_at(6),
        delay_seconds=300,
        error_class="retry_later",
        reason="rate limited (429), Retry-After 120 s",
        http_status=429,
    ),
    PublishFailed(
        **_LINKEDIN,
        actor=_PUBLISHER,
        occurred_at=_at(1),
        attempt=1,
        reason=FailureReason.DUPLICATE,
        error_class="duplicate",
        message="LinkedIn rejected the post as a duplicate",
        http_status=422,
        response_excerpt='{"message":"Content is a duplicate of urn:li:share:7172999999999999999","status":422}',
        existing_post_id="urn:li:share:7172999999999999999",
    ),
    PublishUnconfirmed(
        **_LINKEDIN,
        actor=_PUBLISHER,
        occurred_at=_at(1),
        attempt=1,
        reason="read timeout after 30 s; the post was not found on the platform afterwards",
        error_class="unknown_outcome",
    ),
    AccountConnected(
        **_IDENTITY,
        actor="api_key:key_01HV3",
        occurred_at=_at(-1440),
        scopes=("w_organization_social", "r_organization_social"),
        surface=Surface.DEFAULT,
        expires_at=_at(-1440 + 60 * 24 * 60),
    ),
    AccountDisconnected(**_IDENTITY, actor="api_key:key_01HV3", occurred_at=_at(300), reason="disconnected by user"),
    AccountReauthRequired(
        **_IDENTITY,
        actor=_TOKENS,
        occurred_at=_at(200),
        reason="LinkedIn grants cannot be refreshed for this app; the grant expires in 7 days",
        expires_at=_at(200 + 7 * 24 * 60),
    ),
    TokenRefreshed(**_ACCOUNT, actor=_TOKENS, occurred_at=_at(-5), expires_at=_at(-5 + 60 * 24 * 60), rotated=True),
    TokenRefreshFailed(
        **_ACCOUNT,
        actor=_TOKENS,
        occurred_at=_at(-5),
        transient=False,
        reason="refresh grant rejected",
        http_status=400,
        platform_code="invalid_grant",
    ),
    MessageParked(
        **_PARKED_MESSAGE,
        actor="service:publisher-linkedin",
        occurred_at=_at(2),
        queue="publisher.linkedin",
        category=ParkCategory.MALFORMED,
        reason="com.herald.publish.requested.v1: invalid payload: text: String should have at least 1 character",
        delivery_count=1,
    ),
    MessageReplayed(
        **_PARKED_MESSAGE,
        actor="api_key:key_ops01",
        occurred_at=_at(45),
        parking_queue="publisher.linkedin.dead",
        target_queue="publisher.linkedin",
        note="text fixed in the database; replaying",
    ),
    MessagePurged(
        **_PARKED_MESSAGE,
        actor="service:operator",
        occurred_at=_at(50),
        parking_queue="publisher.linkedin.dead",
        parked_reason="com.herald.publish.requested.v1: invalid payload: text: String should have at least 1 character",
        note="the content was deleted; nothing to replay",
    ),
    ApiKeyCreated(
        team_id=TEAM_ID,
        correlation_id="admin-3f9c2d1e",
        actor="service:operator",
        occurred_at=_at(-600),
        key_id="3f9c2d1e0a7b",
        name="ci pipeline",
        channel=KeyChannel.ADMIN_API,
    ),
    ApiKeyRevoked(
        team_id=TEAM_ID,
        correlation_id="admin-3f9c2d1e",
        actor="service:operator",
        occurred_at=_at(60),
        key_id="3f9c2d1e0a7b",
        name="ci pipeline",
        channel=KeyChannel.ADMIN_API,
    ),
    MediaUploaded(
        team_id=TEAM_ID,
        correlation_id=f"upload-{UPLOAD_ID}",
        actor="api_key:key_01HV3",
        occurred_at=_at(-180),
        media_id=VIDEO_ID,
        storage_key=_VIDEO.storage_key,
        kind=MediaKind.VIDEO,
        content_type="video/mp4",
        size_bytes=_VIDEO.size_bytes,
        sha256=_VIDEO.sha256,
        width=1080,
        height=1920,
        duration_ms=42_500,
        filename="spring-launch-teaser.mp4",
        upload_id=UPLOAD_ID,
    ),
    MediaDeleted(
        team_id=TEAM_ID,
        correlation_id=f"media-{IMAGE_ID}",
        actor="api_key:key_01HV3",
        occurred_at=_at(600),
        media_id=IMAGE_ID,
        storage_key=_IMAGE.storage_key,
        kind=MediaKind.IMAGE,
        content_type="image/jpeg",
        size_bytes=_IMAGE.size_bytes,
        sha256=_IMAGE.sha256,
        reason="deleted by user",
    ),
    MediaCleanedUp(
        team_id=TEAM_ID,
        correlation_id="media-cleanup-2025-03-15",
        actor="system",
        occurred_at=_at(1440),
        category=CleanupCategory.ABANDONED_UPLOAD,
        target=str(UPLOAD_ID),
        upload_id=UPLOAD_ID,
        storage_key=f"teams/{TEAM_ID}/uploads/{UPLOAD_ID}/",
        bytes_freed=5_242_880,
        last_activity_at=_at(-1440),
    ),
)
"""One example per registered event version, in registry order."""


E = TypeVar("E", bound=Event)


def example_for(event_cls: type[E]) -> E:
    """The example of one event version; raises ``KeyError`` if it has none."""
    for example in EXAMPLES:
        if isinstance(example, event_cls) and type(example) is event_cls:
            return example
    raise KeyError(event_cls.ce_type())
