"""How each Herald event becomes an audit record: action, entity, entity id and metadata.

Every event class in the contracts registry has a describer here (``tests/audit/test_mapping.py`` fails for one
that has none). An event type this service does not know yet is still recorded, with the generic
``event_recorded`` action, so a contracts upgrade never loses audit rows.

Metadata follows the original system's record (PascalCase keys: ``DistributionId``, ``Platform``,
``ExternalPostId``, ``Title``, ``PublishedAt`` for a publish) and never holds a secret: events carry no token
material by contract, and :func:`scrub` runs every stored string through the log redactor as a second line of
defence. Free text is cut short (a response excerpt is for diagnosis, not a copy of the platform's answer).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeAlias

from herald.audit.models import Action, AuditRecord, Entity
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
from herald.contracts.envelope import ReceivedEvent
from herald.contracts.identity import ApiKeyCreated, ApiKeyRevoked
from herald.contracts.media import MediaCleanedUp, MediaDeleted, MediaUploaded
from herald.contracts.operations import MessageParked, MessagePurged, MessageReplayed
from herald.contracts.publishing import (
    PublishFailed,
    PublishRequested,
    PublishRequestedV1,
    PublishRetryScheduled,
    PublishSucceeded,
    PublishUnconfirmed,
)
from herald.kit.logging import REDACTED, is_secret_field, redact

TEXT_LIMIT: Final = 500
"""Longest free text kept in metadata (reasons, messages)."""
EXCERPT_LIMIT: Final = 200
"""Longest platform response excerpt kept in metadata."""


_PublishOutcome: TypeAlias = PublishSucceeded | PublishRetryScheduled | PublishFailed | PublishUnconfirmed
_DistributionEvent: TypeAlias = (
    DistributionScheduled
    | DistributionRescheduled
    | DistributionCancelled
    | DistributionMissed
    | PublishRequested
    | PublishRequestedV1
    | _PublishOutcome
)
_AccountEvent: TypeAlias = (
    AccountConnected | AccountDisconnected | AccountReauthRequired | TokenRefreshed | TokenRefreshFailed
)


@dataclass(frozen=True)
class Description:
    """The audit-specific reading of one event."""

    action: Action
    entity: Entity
    entity_id: str
    metadata: dict[str, Any]


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def _short(value: str | None, limit: int = TEXT_LIMIT) -> str | None:
    return None if value is None else value[:limit]


def _distribution(event: _DistributionEvent, action: Action, **extra: Any) -> Description:
    metadata = {
        "DistributionId": str(event.distribution_id),
        "ContentId": str(event.content_id),
        "AccountId": str(event.account_id),
        "Platform": event.platform.value,
        **extra,
    }
    return Description(action, Entity.CONTENT_DISTRIBUTION, str(event.distribution_id), metadata)


def _attempt(event: _PublishOutcome) -> dict[str, Any]:
    return {"Attempt": event.attempt}


def _content_approved(event: ContentApproved) -> Description:
    return Description(
        Action.CONTENT_APPROVED,
        Entity.CONTENT,
        str(event.content_id),
        {"ContentId": str(event.content_id), "Title": event.title},
    )


def _content_withdrawn(event: ContentApprovalWithdrawn) -> Description:
    return Description(
        Action.CONTENT_APPROVAL_WITHDRAWN,
        Entity.CONTENT,
        str(event.content_id),
        {"ContentId": str(event.content_id), "Reason": _short(event.reason)},
    )


def _scheduled(event: DistributionScheduled) -> Description:
    return _distribution(
        event, Action.DISTRIBUTION_SCHEDULED, ScheduledAt=_iso(event.scheduled_at), Timezone=event.timezone
    )


def _rescheduled(event: DistributionRescheduled) -> Description:
    return _distribution(
        event,
        Action.DISTRIBUTION_RESCHEDULED,
        PreviousScheduledAt=_iso(event.previous_scheduled_at),
        ScheduledAt=_iso(event.scheduled_at),
        Timezone=event.timezone,
    )


def _cancelled(event: DistributionCancelled) -> Description:
    return _distribution(event, Action.DISTRIBUTION_CANCELLED, Reason=_short(event.reason))


def _missed(event: DistributionMissed) -> Description:
    return _distribution(
        event,
        Action.DISTRIBUTION_MISSED,
        ScheduledAt=_iso(event.scheduled_at),
        LateBySeconds=event.late_by_seconds,
        GraceSeconds=event.grace_seconds,
    )


def _requested_v1(event: PublishRequestedV1) -> Description:
    # The post text is deliberately not copied: the title identifies the content, the text lives in the scheduler.
    return _distribution(
        event,
        Action.PUBLISH_REQUESTED,
        Title=event.title,
        ScheduledAt=_iso(event.scheduled_at),
        OverLength=event.over_length.value,
        MaxAttempts=event.max_attempts,
    )


def _requested(event: PublishRequested) -> Description:
    # v1's record plus where it is posted and which media items, by id and kind (storage keys and alt texts stay in
    # the scheduler and media service; the ids are enough to look them up).
    return _distribution(
        event,
        Action.PUBLISH_REQUESTED,
        Title=event.title,
        ScheduledAt=_iso(event.scheduled_at),
        OverLength=event.over_length.value,
        MaxAttempts=event.max_attempts,
        Surface=event.surface.value,
        Media=[{"MediaId": str(item.media_id), "Kind": item.kind.value} for item in event.media],
    )


def _succeeded(event: PublishSucceeded) -> Description:
    return _distribution(
        event,
        Action.CONTENT_PUBLISHED,
        **_attempt(event),
        ExternalPostId=event.external_post_id,
        Url=event.url,
        Title=event.title,
        PublishedAt=_iso(event.published_at),
        ScheduledAt=_iso(event.scheduled_at),
        Reconciled=event.reconciled,
    )


def _retry_scheduled(event: PublishRetryScheduled) -> Description:
    return _distribution(
        event,
        Action.PUBLISH_RETRY_SCHEDULED,
        **_attempt(event),
        ErrorClass=event.error_class,
        HttpStatus=event.http_status,
        Reason=_short(event.reason),
        NextAttemptAt=_iso(event.next_attempt_at),
        DelaySeconds=event.delay_seconds,
    )


def _failed(event: PublishFailed) -> Description:
    return _distribution(
        event,
        Action.CONTENT_PUBLISH_FAILED,
        **_attempt(event),
        FailureReason=event.reason.value,
        ErrorClass=event.error_class,
        HttpStatus=event.http_status,
        Message=_short(event.message),
        ResponseExcerpt=_short(event.response_excerpt, EXCERPT_LIMIT),
        ExistingPostId=event.existing_post_id,
    )


def _unconfirmed(event: PublishUnconfirmed) -> Description:
    return _distribution(
        event,
        Action.CONTENT_PUBLISH_UNCONFIRMED,
        **_attempt(event),
        ErrorClass=event.error_class,
        HttpStatus=event.http_status,
        Reason=_short(event.reason),
    )


def _account(event: _AccountEvent, action: Action, **extra: Any) -> Description:
    metadata = {"AccountId": str(event.account_id), "Platform": event.platform.value, **extra}
    return Description(action, Entity.SOCIAL_MEDIA_ACCOUNT, str(event.account_id), metadata)


def _identity(event: AccountConnected | AccountDisconnected | AccountReauthRequired) -> dict[str, Any]:
    return {"PlatformAccountId": event.platform_account_id, "AccountName": event.account_name}


def _connected(event: AccountConnected) -> Description:
    return _account(
        event,
        Action.ACCOUNT_CONNECTED,
        **_identity(event),
        Scopes=list(event.scopes),
        ExpiresAt=_iso(event.expires_at),
        Reconnected=event.reconnected,
        Surface=None if event.surface is None else event.surface.value,
    )


def _disconnected(event: AccountDisconnected) -> Description:
    return _account(event, Action.ACCOUNT_DISCONNECTED, **_identity(event), Reason=_short(event.reason))


def _reauth_required(event: AccountReauthRequired) -> Description:
    return _account(
        event,
        Action.ACCOUNT_REAUTH_REQUIRED,
        **_identity(event),
        Reason=_short(event.reason),
        ExpiresAt=_iso(event.expires_at),
    )


def _refreshed(event: TokenRefreshed) -> Description:
    return _account(event, Action.TOKEN_REFRESHED, ExpiresAt=_iso(event.expires_at), Rotated=event.rotated)


def _refresh_failed(event: TokenRefreshFailed) -> Description:
    return _account(
        event,
        Action.TOKEN_REFRESH_FAILED,
        Transient=event.transient,
        Reason=_short(event.reason),
        HttpStatus=event.http_status,
        PlatformCode=event.platform_code,
    )


def _message(event: MessageParked | MessageReplayed | MessagePurged, action: Action, **extra: Any) -> Description:
    metadata = {
        "OriginalMessageId": event.original_message_id,
        "OriginalType": event.original_type,
        "RoutingKey": event.routing_key,
        **extra,
    }
    return Description(action, Entity.MESSAGE, event.original_message_id or "unknown", metadata)


def _parked(event: MessageParked) -> Description:
    return _message(
        event,
        Action.MESSAGE_PARKED,
        Queue=event.queue,
        Category=event.category.value,
        Reason=_short(event.reason),
        DeliveryCount=event.delivery_count,
    )


def _replayed(event: MessageReplayed) -> Description:
    return _message(
        event,
        Action.MESSAGE_REPLAYED,
        ParkingQueue=event.parking_queue,
        TargetQueue=event.target_queue,
        Note=_short(event.note),
    )


def _purged(event: MessagePurged) -> Description:
    return _message(
        event,
        Action.MESSAGE_PURGED,
        ParkingQueue=event.parking_queue,
        ParkedReason=_short(event.parked_reason),
        Note=_short(event.note),
    )


def _api_key(event: ApiKeyCreated | ApiKeyRevoked, action: Action) -> Description:
    return Description(action, Entity.API_KEY, event.key_id, {"Name": event.name, "Channel": event.channel.value})


def _media(event: MediaUploaded | MediaDeleted) -> dict[str, Any]:
    return {
        "MediaId": str(event.media_id),
        "StorageKey": event.storage_key,
        "Kind": event.kind.value,
        "ContentType": event.content_type,
        "SizeBytes": event.size_bytes,
        "Sha256": event.sha256,
    }


def _media_uploaded(event: MediaUploaded) -> Description:
    return Description(
        Action.MEDIA_UPLOADED,
        Entity.MEDIA,
        str(event.media_id),
        {
            **_media(event),
            "Width": event.width,
            "Height": event.height,
            "DurationMs": event.duration_ms,
            "Filename": _short(event.filename),
            "UploadId": None if event.upload_id is None else str(event.upload_id),
        },
    )


def _media_deleted(event: MediaDeleted) -> Description:
    return Description(
        Action.MEDIA_DELETED, Entity.MEDIA, str(event.media_id), {**_media(event), "Reason": _short(event.reason)}
    )


def _media_cleaned_up(event: MediaCleanedUp) -> Description:
    return Description(
        Action.MEDIA_CLEANED_UP,
        Entity.MEDIA,
        event.target,
        {
            "Category": event.category.value,
            "Target": event.target,
            "UploadId": None if event.upload_id is None else str(event.upload_id),
            "StorageKey": event.storage_key,
            "BytesFreed": event.bytes_freed,
            "LastActivityAt": _iso(event.last_activity_at),
        },
    )


DESCRIBERS: Mapping[type[Event], Callable[[Any], Description]] = {
    ContentApproved: _content_approved,
    ContentApprovalWithdrawn: _content_withdrawn,
    DistributionScheduled: _scheduled,
    DistributionRescheduled: _rescheduled,
    DistributionCancelled: _cancelled,
    DistributionMissed: _missed,
    PublishRequestedV1: _requested_v1,
    PublishRequested: _requested,
    PublishSucceeded: _succeeded,
    PublishRetryScheduled: _retry_scheduled,
    PublishFailed: _failed,
    PublishUnconfirmed: _unconfirmed,
    AccountConnected: _connected,
    AccountDisconnected: _disconnected,
    AccountReauthRequired: _reauth_required,
    TokenRefreshed: _refreshed,
    TokenRefreshFailed: _refresh_failed,
    MessageParked: _parked,
    MessageReplayed: _replayed,
    MessagePurged: _purged,
    ApiKeyCreated: lambda event: _api_key(event, Action.API_KEY_CREATED),
    ApiKeyRevoked: lambda event: _api_key(event, Action.API_KEY_REVOKED),
    MediaUploaded: _media_uploaded,
    MediaDeleted: _media_deleted,
    MediaCleanedUp: _media_cleaned_up,
}
"""One describer per event class. Keep it complete: the registry test iterates ``EVENT_CLASSES``."""


def _generic(event: Event) -> Description:
    subject = event.ce_subject()
    return Description(Action.EVENT_RECORDED, Entity.EVENT, subject or "unknown", {"Type": event.ce_type()})


def describe(event: Event) -> Description:
    """The audit reading of ``event`` (the generic one for an event class without a describer)."""
    describer = DESCRIBERS.get(type(event))
    return _generic(event) if describer is None else describer(event)


def _no_nul(value: str) -> str:
    # PostgreSQL text and jsonb cannot hold NUL: one in an event must not make its row unwritable.
    return value.replace("\x00", "\ufffd")


def _clean_text(value: str) -> str:
    return redact(_no_nul(value))


@functools.lru_cache(maxsize=4096)
def _key(name: str) -> tuple[str, bool]:
    """A metadata key as stored, and whether its value is a secret. Keys come from the describers above (a few
    dozen constants), so each is worked out once instead of for every event."""
    return _clean_text(name), is_secret_field(name)


def scrub(value: Any, key: str = "") -> Any:
    """``value`` with every string redacted, and any field whose name says "secret" blanked."""
    if isinstance(value, str):
        return REDACTED if key and _key(key)[1] else _clean_text(value)
    if isinstance(value, dict):
        return {_key(str(k))[0]: scrub(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v) for v in value]
    return value


def to_record(received: ReceivedEvent) -> AuditRecord:
    """The row to store for a received event."""
    event = received.event
    description = describe(event)
    platform = getattr(event, "platform", None)
    return AuditRecord(
        event_id=_no_nul(received.attributes.id),
        occurred_at=event.occurred_at,
        event_type=event.ce_type(),
        source=_no_nul(received.attributes.source),
        team_id=getattr(event, "team_id", None),
        actor=event.actor,
        action=description.action,
        entity=description.entity,
        entity_id=_no_nul(description.entity_id),
        platform=None if platform is None else str(platform.value),
        correlation_id=_clean_text(event.correlation_id),
        metadata=scrub(description.metadata),
    )
