"""Exchange names, routing keys and the binding patterns consumers use. Defined here and nowhere else.

Every event is published to the topic exchange :data:`EVENTS_EXCHANGE`. Its routing key is its CloudEvents type
without the ``com.herald.`` prefix, and, for events about one platform, the platform as a last word::

    com.herald.publish.requested.v2  on platform x   ->  publish.requested.v2.x
    com.herald.content.approved.v1                   ->  content.approved.v1

The version is part of the key so that a ``v2`` can be published side by side with ``v1``: each consumer binds the
version it understands and never receives both copies. The platform is last so that a publisher binds only its
own platform (``publish.requested.v2.x``) while audit binds all (``#``).

Messages a consumer cannot handle are dead-lettered to the direct exchange :data:`DEAD_LETTER_EXCHANGE` with
routing key ``<queue>.dead`` (see :func:`dead_letter_routing_key`), which routes them to that queue's parking queue.
"""

from __future__ import annotations

from typing import Final

from herald.contracts.base import TYPE_PREFIX, Event
from herald.contracts.platform import Platform
from herald.contracts.publishing import (
    PublishFailed,
    PublishRequested,
    PublishRequestedV1,
    PublishRetryScheduled,
    PublishSucceeded,
    PublishUnconfirmed,
)

EVENTS_EXCHANGE: Final = "herald.events"
"""The topic exchange every Herald event is published to."""
EVENTS_EXCHANGE_TYPE: Final = "topic"

DEAD_LETTER_EXCHANGE: Final = "herald.dlx"
"""The direct exchange consumer queues dead-letter to (``x-dead-letter-exchange``)."""
DEAD_LETTER_EXCHANGE_TYPE: Final = "direct"

AUDIT_BINDING: Final = "#"
"""The audit service's binding: every event, every version."""

PLATFORM_WILDCARD: Final = "*"


def is_platform_routed(event_cls: type[Event]) -> bool:
    """True if the event's routing key ends with a platform (the event has a ``platform`` field)."""
    return "platform" in event_cls.model_fields


def routing_prefix(event_cls: type[Event]) -> str:
    """The routing key without the platform word, e.g. ``publish.requested.v1``."""
    return event_cls.ce_type().removeprefix(TYPE_PREFIX)


def routing_key(event: Event) -> str:
    """The routing key to publish ``event`` with, e.g. ``publish.requested.v1.x``."""
    prefix = routing_prefix(type(event))
    platform: Platform | None = getattr(event, "platform", None)
    return prefix if platform is None else f"{prefix}.{platform.value}"


def binding_key(event_cls: type[Event], platform: Platform | None = None) -> str:
    """The binding pattern for one event version: one platform, or all platforms if ``platform`` is None.

    ``binding_key(PublishRequested, Platform.X) == "publish.requested.v2.x"``;
    ``binding_key(PublishFailed) == "publish.failed.v1.*"``; ``binding_key(ContentApproved) == "content.approved.v1"``.
    """
    prefix = routing_prefix(event_cls)
    if not is_platform_routed(event_cls):
        if platform is not None:
            raise ValueError(f"{event_cls.ce_type()} is not routed by platform")
        return prefix
    return f"{prefix}.{PLATFORM_WILDCARD if platform is None else platform.value}"


def publish_requested_binding(platform: Platform) -> str:
    """What a platform publisher binds its work queue with, e.g. ``publish.requested.v2.linkedin``."""
    return binding_key(PublishRequested, platform)


def legacy_publish_requested_binding(platform: Platform) -> str:
    """The version 1 binding (``publish.requested.v1.<p>``), kept by publishers while a v1 producer may run.

    Nothing sends both versions of one request, so binding both never delivers a request twice.
    """
    return binding_key(PublishRequestedV1, platform)


PUBLISH_OUTCOME_BINDINGS: Final[tuple[str, ...]] = tuple(
    binding_key(cls) for cls in (PublishSucceeded, PublishRetryScheduled, PublishFailed, PublishUnconfirmed)
)
"""What the scheduler binds to follow every publish outcome on every platform."""


def dead_letter_routing_key(queue: str) -> str:
    """The ``x-dead-letter-routing-key`` of ``queue``, and the name of its parking queue: ``<queue>.dead``."""
    return f"{queue}.dead"
