"""Herald's event contracts: versioned pydantic models, CloudEvents-over-AMQP envelopes and routing.

Publish::

    from herald.contracts import PublishRequested, to_amqp, service_source

    env = to_amqp(event, source=service_source("scheduler"))
    # publish env.body to env.exchange with env.routing_key, env.headers, env.message_id, env.content_type

Consume::

    from herald.contracts import ContractError, from_amqp

    try:
        event = from_amqp(message.body, message.headers)
    except ContractError as exc:
        ...  # park the message with reason str(exc) and category exc.park_category

See ``libs/contracts/README.md`` for the list of events, the routing keys and the versioning policy.
"""

from herald.contracts.accounts import (
    AccountConnected,
    AccountDisconnected,
    AccountReauthRequired,
    TokenRefreshed,
    TokenRefreshFailed,
)
from herald.contracts.base import SYSTEM_ACTOR, Event, TeamEvent, api_key_actor, service_actor
from herald.contracts.distribution import (
    ContentApprovalWithdrawn,
    ContentApproved,
    DistributionCancelled,
    DistributionMissed,
    DistributionRescheduled,
    DistributionScheduled,
)
from herald.contracts.envelope import (
    AmqpEnvelope,
    CloudEventAttributes,
    ReceivedEvent,
    from_amqp,
    read_amqp,
    service_source,
    to_amqp,
)
from herald.contracts.errors import ContractError, MalformedEvent, UnknownEventType
from herald.contracts.identity import ApiKeyCreated, ApiKeyRevoked, KeyChannel
from herald.contracts.media import (
    MAX_MEDIA_ITEMS,
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
from herald.contracts.registry import EVENT_CLASSES, REGISTRY, AnyEvent, event_class
from herald.contracts.routing import (
    AUDIT_BINDING,
    DEAD_LETTER_EXCHANGE,
    EVENTS_EXCHANGE,
    PUBLISH_OUTCOME_BINDINGS,
    binding_key,
    dead_letter_routing_key,
    legacy_publish_requested_binding,
    publish_requested_binding,
    routing_key,
)

__all__ = [
    "AUDIT_BINDING",
    "DEAD_LETTER_EXCHANGE",
    "EVENTS_EXCHANGE",
    "EVENT_CLASSES",
    "MAX_MEDIA_ITEMS",
    "PUBLISH_OUTCOME_BINDINGS",
    "REGISTRY",
    "SYSTEM_ACTOR",
    "AccountConnected",
    "AccountDisconnected",
    "AccountReauthRequired",
    "AmqpEnvelope",
    "AnyEvent",
    "ApiKeyCreated",
    "ApiKeyRevoked",
    "CleanupCategory",
    "CloudEventAttributes",
    "ContentApprovalWithdrawn",
    "ContentApproved",
    "ContractError",
    "DistributionCancelled",
    "DistributionMissed",
    "DistributionRescheduled",
    "DistributionScheduled",
    "Event",
    "FailureReason",
    "KeyChannel",
    "MalformedEvent",
    "MediaCleanedUp",
    "MediaDeleted",
    "MediaKind",
    "MediaReference",
    "MediaUploaded",
    "MessageParked",
    "MessagePurged",
    "MessageReplayed",
    "OverLengthPolicy",
    "ParkCategory",
    "Platform",
    "PublishFailed",
    "PublishRequested",
    "PublishRequestedV1",
    "PublishRetryScheduled",
    "PublishSucceeded",
    "PublishUnconfirmed",
    "ReceivedEvent",
    "Surface",
    "TeamEvent",
    "TokenRefreshFailed",
    "TokenRefreshed",
    "UnknownEventType",
    "api_key_actor",
    "binding_key",
    "dead_letter_routing_key",
    "event_class",
    "from_amqp",
    "legacy_publish_requested_binding",
    "publish_requested_binding",
    "read_amqp",
    "routing_key",
    "service_actor",
    "service_source",
    "to_amqp",
]
