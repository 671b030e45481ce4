"""Consuming contract events safely: quorum work queues with parking lots, and an intake that parks bad input.

Every consumer queue is a quorum queue bound to ``herald.events``. It dead-letters (at least once) to
``herald.dlx`` with routing key ``<queue>.dead``, which routes to the parking queue ``<queue>.dead``; a delivery
limit stops a message that crashes the consumer from looping forever (it is parked as poison).

:class:`Intake` turns a delivery into a contract event. A message that is not a valid Herald event (missing
CloudEvents headers, bad JSON, failing validation, unknown type or version) is copied to the parking queue with
its reason in ``herald-parked-*`` headers, reported with a ``MessageParked`` event, and acknowledged: the
consumer goes on with the next message and nothing is lost.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from faststream.rabbit import RabbitBroker, RabbitQueue
from faststream.rabbit.message import RabbitMessage
from faststream.rabbit.schemas import QueueType
from faststream.rabbit.schemas.queue import QuorumQueueArgs

from herald.contracts.base import SYSTEM_ACTOR
from herald.contracts.envelope import ReceivedEvent, read_amqp
from herald.contracts.errors import ContractError, UnknownEventType
from herald.contracts.operations import MessageParked, ParkCategory
from herald.contracts.routing import DEAD_LETTER_EXCHANGE, EVENTS_EXCHANGE, dead_letter_routing_key
from herald.kit.broker import EventPublisher
from herald.kit.clock import utc_now
from herald.kit.logging import redact

log = logging.getLogger(__name__)

DEFAULT_DELIVERY_LIMIT = 10
PARKED_REASON_HEADER = "herald-parked-reason"
PARKED_CATEGORY_HEADER = "herald-parked-category"
PARKED_AT_HEADER = "herald-parked-at"
PARKED_FROM_HEADER = "herald-parked-from"
# Herald's own delivery headers (never ``x-``: those belong to the broker).
ATTEMPT_HEADER = "herald-attempt"
"""The attempt number of this delivery of a publish request (absent means 1)."""
RETRY_REASON_HEADER = "herald-retry-reason"
REPLAYED_AT_HEADER = "herald-replayed-at"
"""Set by ``herald parked replay``: an operator sent this message back after a fix."""


def work_queue_arguments(name: str, *, delivery_limit: int = DEFAULT_DELIVERY_LIMIT) -> QuorumQueueArgs:
    return {
        "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE,
        "x-dead-letter-routing-key": dead_letter_routing_key(name),
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",  # required for at-least-once dead-lettering
        "x-delivery-limit": delivery_limit,
    }


def _declared_queue(name: str, delivery_limit: int) -> RabbitQueue:
    return RabbitQueue(
        name,
        queue_type=QueueType.QUORUM,
        arguments=work_queue_arguments(name, delivery_limit=delivery_limit),
    )


def work_queue(name: str) -> RabbitQueue:
    """The queue a subscriber consumes from: the work queue :func:`declare_work_queue` declared, passively.

    FastStream caches declared queues by equality, whatever the channel: subscribing with a queue equal to the one
    declared on the broker's default channel would consume on that channel (shared with publishing, and without the
    subscriber's prefetch: unbounded deliveries). A passive declaration is not equal to it, so the subscriber opens
    the queue on its own channel with its own prefetch window. Declare first (in a runtime ``on_start`` hook).
    """
    return RabbitQueue(name, queue_type=QueueType.QUORUM, declare=False)


async def declare_work_queue(
    broker: RabbitBroker,
    name: str,
    binding_keys: Iterable[str],
    *,
    delivery_limit: int = DEFAULT_DELIVERY_LIMIT,
) -> None:
    """Declare ``name`` with its bindings on ``herald.events`` and its parking queue ``<name>.dead``."""
    parking_name = dead_letter_routing_key(name)
    parking = await broker.declare_queue(RabbitQueue(parking_name, queue_type=QueueType.QUORUM, durable=True))
    await parking.bind(DEAD_LETTER_EXCHANGE, routing_key=parking_name)
    queue = await broker.declare_queue(_declared_queue(name, delivery_limit))
    for key in binding_keys:
        await queue.bind(EVENTS_EXCHANGE, routing_key=key)


def _category(error: ContractError) -> ParkCategory:
    return ParkCategory.UNKNOWN_TYPE if isinstance(error, UnknownEventType) else ParkCategory.MALFORMED


class Intake:
    """Reads Herald events from one queue and parks what it cannot read."""

    def __init__(self, broker: RabbitBroker, events: EventPublisher, queue: str) -> None:
        self._broker = broker
        self._events = events
        self.queue = queue

    async def read(self, message: RabbitMessage) -> ReceivedEvent | None:
        """The event in ``message``, or ``None`` if it was parked (and acknowledged) instead."""
        try:
            return read_amqp(message.body, message.headers, content_type=message.content_type)
        except ContractError as error:
            await self.park(message, str(error), _category(error))
            return None

    async def park(
        self,
        message: RabbitMessage,
        reason: str,
        category: ParkCategory,
        *,
        team_id: Any = None,
        correlation_id: str | None = None,
    ) -> None:
        """Copy ``message`` to the parking queue with ``reason``, report it, then acknowledge the original."""
        reason = redact(reason)[:500]
        raw = message.raw_message
        headers = {k: v for k, v in (message.headers or {}).items() if not k.startswith("x-")}
        headers |= {
            PARKED_REASON_HEADER: reason,
            PARKED_CATEGORY_HEADER: category.value,
            PARKED_AT_HEADER: utc_now().isoformat(),
            PARKED_FROM_HEADER: self.queue,
        }
        await self._broker.publish(
            message.body,
            exchange=DEAD_LETTER_EXCHANGE,
            routing_key=dead_letter_routing_key(self.queue),
            headers=headers,
            message_id=message.message_id,
            correlation_id=message.correlation_id,
            content_type=message.content_type,
            persist=True,
            mandatory=True,
            timeout=10,
        )
        original_type = headers.get("cloudEvents_type")
        delivery_count = (message.headers or {}).get("x-delivery-count")
        await self._events.publish(
            MessageParked(
                team_id=team_id,
                correlation_id=correlation_id or message.correlation_id or message.message_id or "unknown",
                actor=SYSTEM_ACTOR,
                occurred_at=utc_now(),
                original_message_id=message.message_id or None,
                original_type=original_type if isinstance(original_type, str) else None,
                routing_key=raw.routing_key or "",
                queue=self.queue,
                category=category,
                reason=reason,
                delivery_count=delivery_count if isinstance(delivery_count, int) else None,
            )
        )
        log.warning("message parked", extra={"queue": self.queue, "reason": reason, "message_id": message.message_id})
        await message.ack()
