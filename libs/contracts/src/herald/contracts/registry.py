"""The registry of every event class, keyed by CloudEvents type (type and version).

To add an event or a new version of one, add its class to :data:`AnyEvent`; the registry, ``from_amqp``, the
generated schemas, examples and the AsyncAPI document all follow from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import TypeAlias, get_args

from herald.contracts.accounts import (
    AccountConnected,
    AccountDisconnected,
    AccountReauthRequired,
    TokenRefreshed,
    TokenRefreshFailed,
)
from herald.contracts.base import TYPE_PREFIX, Event
from herald.contracts.distribution import (
    ContentApprovalWithdrawn,
    ContentApproved,
    DistributionCancelled,
    DistributionMissed,
    DistributionRescheduled,
    DistributionScheduled,
)
from herald.contracts.errors import UnknownEventType
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

AnyEvent: TypeAlias = (
    ContentApproved
    | ContentApprovalWithdrawn
    | DistributionScheduled
    | DistributionRescheduled
    | DistributionCancelled
    | DistributionMissed
    | PublishRequestedV1
    | PublishRequested
    | PublishSucceeded
    | PublishRetryScheduled
    | PublishFailed
    | PublishUnconfirmed
    | AccountConnected
    | AccountDisconnected
    | AccountReauthRequired
    | TokenRefreshed
    | TokenRefreshFailed
    | MessageParked
    | MessageReplayed
    | MessagePurged
    | ApiKeyCreated
    | ApiKeyRevoked
    | MediaUploaded
    | MediaDeleted
    | MediaCleanedUp
)
"""Any Herald event, for ``match`` statements and annotations."""

EVENT_CLASSES: tuple[type[Event], ...] = get_args(AnyEvent)
"""Every event class, in documentation order."""


def _build() -> Mapping[str, type[Event]]:
    registry: dict[str, type[Event]] = {}
    for cls in EVENT_CLASSES:
        if not cls.TYPE.startswith(TYPE_PREFIX):
            raise ValueError(f"{cls.__name__}.TYPE {cls.TYPE!r} must start with {TYPE_PREFIX!r}")
        if cls.ce_type() in registry:
            raise ValueError(f"{cls.ce_type()} is registered twice ({registry[cls.ce_type()].__name__})")
        registry[cls.ce_type()] = cls
    return MappingProxyType(registry)


REGISTRY: Mapping[str, type[Event]] = _build()
"""CloudEvents type (e.g. ``com.herald.publish.requested.v1``) to event class."""


def event_class(ce_type: str) -> type[Event]:
    """The class registered for a CloudEvents type; raises :class:`UnknownEventType` if there is none."""
    try:
        return REGISTRY[ce_type]
    except KeyError:
        raise UnknownEventType(ce_type) from None


def lookup(type_name: str, version: int) -> type[Event]:
    """The class for a type name without version (``com.herald.publish.requested``) and a version number."""
    return event_class(f"{type_name}.v{version}")
