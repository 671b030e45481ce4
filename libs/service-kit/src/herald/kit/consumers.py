"""Consuming contract events safely: quorum work queues with parking lots, and an intake that parks bad input.

Every consumer queue is a quorum queue bound to ``herald.events``. It dead-letters (at least once) to
``herald.dlx`` with routing key ``<queue>.dead``, which routes to the parking queue ``<queue>.dead``; a delivery
limit stops a message that crashes the consumer from looping forever (it is parked as poison).

:class:`Intake` turns a delivery into a contract event. A message that is not a valid Herald event (missing
CloudEvents headers, bad JSON, failing validation, unknown type or version) or that a handler could not process
(a header Herald reads that is wrong, text PostgreSQL refuses, an instant out of range: see
:mod:`herald.kit.intake_checks`) is copied to the parking queue with its reason in ``herald-parked-*`` headers,
reported with a ``MessageParked`` event, counted in ``herald_parked_messages_total{queue, category}`` and
acknowledged: the consumer goes on with the next message and nothing is lost.

When a handler fails, :meth:`Intake.failed` decides: a failure caused by the message's content
(:func:`content_fault`) parks it at once with that reason; any other failure (the database is down) is requeued,
except on the last delivery the queue's limit allows, where the intake parks it with the real reason rather than
letting the broker dead-letter it with its generic one. What the broker still dead-letters by itself (a consumer
that crashed on every delivery) reaches ``<queue>.dead.watch`` too: :meth:`Intake.watch_dead_letters` counts and
reports it.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import asyncpg
from faststream import AckPolicy
from faststream.rabbit import RabbitBroker, RabbitQueue
from faststream.rabbit.annotations import RabbitMessage  # what FastStream injects into a handler
from faststream.rabbit.schemas import QueueType
from faststream.rabbit.schemas.queue import QuorumQueueArgs
from prometheus_client import CollectorRegistry, Counter
from pydantic import ValidationError
from sqlalchemy.exc import DataError

from herald.contracts.base import SYSTEM_ACTOR
from herald.contracts.envelope import ReceivedEvent, read_amqp
from herald.contracts.errors import ContractError, UnknownEventType
from herald.contracts.operations import MessageParked, ParkCategory
from herald.contracts.routing import DEAD_LETTER_EXCHANGE, EVENTS_EXCHANGE, dead_letter_routing_key
from herald.kit.broker import EventPublisher
from herald.kit.clock import utc_now
from herald.kit.intake_checks import event_problem, header_problem
from herald.kit.logging import redact
from herald.kit.validation import text_problem

if TYPE_CHECKING:
    from herald.kit.amqp_consumer import Delivery

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
WATCH_SUFFIX = ".watch"
"""``<queue>.dead.watch``: a copy of everything dead-lettered from ``<queue>``, so the broker's own parks are seen."""
WATCH_MAX_LENGTH = 10_000
PARK_TIMEOUT_SECONDS = 10

_counters: weakref.WeakKeyDictionary[CollectorRegistry, Counter] = weakref.WeakKeyDictionary()


def parked_messages_counter(registry: CollectorRegistry) -> Counter:
    """``herald_parked_messages_total{queue, category}`` in ``registry`` (one per registry, however often asked)."""
    counter = _counters.get(registry)
    if counter is None:
        counter = Counter(
            "herald_parked_messages_total",
            "Messages moved to a parking queue, by queue and category (counted once, by the consumer or the watch).",
            ["queue", "category"],
            registry=registry,
        )
        _counters[registry] = counter
    return counter


class UnprocessableMessage(Exception):
    """Raised by a handler: the message's content makes it impossible to process (park it with this reason)."""

    def __init__(self, reason: str, category: ParkCategory = ParkCategory.MALFORMED) -> None:
        super().__init__(reason)
        self.reason = reason
        self.category = category


def content_fault(error: BaseException) -> str | None:
    """Why ``error`` comes from the message's content (retrying cannot help), or ``None`` if it may be transient.

    PostgreSQL's data exceptions (SQLSTATE class 22: a value it cannot store or compare), arithmetic overflow on the
    message's instants, text that cannot be encoded, and models built from the content that fail validation.
    """
    if isinstance(error, UnprocessableMessage):
        return error.reason
    if isinstance(error, DataError | asyncpg.DataError):
        return f"PostgreSQL refused a value of the message ({_first_line(error)})"
    if isinstance(error, OverflowError):
        return f"a date-time of the message is out of range ({error})"
    if isinstance(error, UnicodeError):
        return f"the message carries text that cannot be encoded ({type(error).__name__})"
    if isinstance(error, ValidationError):
        return f"a value of the message is invalid ({error.error_count()} error(s): {_first_line(error)})"
    return None


def park_reason(
    error: BaseException, headers: Mapping[str, Any], delivery_limit: int
) -> tuple[str, ParkCategory] | None:
    """Why and how to park a message its handler failed on, or ``None`` to requeue it: its content is at fault
    (:func:`content_fault`), or this was the last delivery the queue allows (parked as poison with the real
    error rather than dead-lettered by the broker with its generic reason)."""
    reason = content_fault(error)
    if reason is not None:
        category = error.category if isinstance(error, UnprocessableMessage) else ParkCategory.MALFORMED
        return reason, category
    delivery_count = headers.get("x-delivery-count")
    if isinstance(delivery_count, int) and delivery_count >= delivery_limit:
        last = f"{type(error).__name__}: {_first_line(error)}"
        return f"failed on all {delivery_count + 1} deliveries; last error: {last}", ParkCategory.POISON
    return None


def _first_line(error: BaseException) -> str:
    text = str(getattr(error, "orig", None) or error)
    return redact(text.splitlines()[0] if text else type(error).__name__)[:300]


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
    watch = await broker.declare_queue(
        RabbitQueue(
            parking_name + WATCH_SUFFIX,
            queue_type=QueueType.QUORUM,
            durable=True,
            arguments={"x-max-length": WATCH_MAX_LENGTH, "x-overflow": "drop-head"},
        )
    )
    await watch.bind(DEAD_LETTER_EXCHANGE, routing_key=parking_name)
    queue = await broker.declare_queue(_declared_queue(name, delivery_limit))
    for key in binding_keys:
        await queue.bind(EVENTS_EXCHANGE, routing_key=key)


def _text_problem(received: ReceivedEvent, name: str) -> str | None:
    value = getattr(received.attributes, name)
    return text_problem(value) if isinstance(value, str) else None


def _first_routing_key(headers: dict[str, Any]) -> str | None:
    deaths = headers.get("x-death")
    if isinstance(deaths, list) and deaths and isinstance(deaths[0], dict):
        keys = deaths[0].get("routing-keys")
        if isinstance(keys, list) and keys:
            key = keys[0]
            return key.decode(errors="replace") if isinstance(key, bytes) else str(key)
    return None


def _category(error: ContractError) -> ParkCategory:
    return ParkCategory.UNKNOWN_TYPE if isinstance(error, UnknownEventType) else ParkCategory.MALFORMED


@dataclass(frozen=True)
class Unreadable:
    """Why a message cannot be read as a Herald event, and how to park it."""

    reason: str
    category: ParkCategory
    team_id: Any = None


def read_checked(
    body: bytes,
    headers: Mapping[str, Any],
    *,
    content_type: str | None,
    message_id: str | None,
    correlation_id: str | None,
) -> ReceivedEvent | Unreadable:
    """The event in a message, with every header and attribute checked, or why it cannot be read.

    The one intake check of every consumer (the per-message :class:`Intake` and the audit's batch consumer).
    """
    problem = header_problem(headers, message_id=message_id, correlation_id=correlation_id)
    if problem is not None:
        return Unreadable(problem, ParkCategory.MALFORMED)
    try:
        received = read_amqp(body, dict(headers), content_type=content_type)
    except ContractError as error:
        return Unreadable(str(error), _category(error))
    except (ValueError, TypeError, OverflowError, UnicodeError) as error:  # e.g. a time that overflows in UTC
        return Unreadable(f"unreadable CloudEvents attributes or payload: {error}", ParkCategory.MALFORMED)
    problem = event_problem(received.event, received.attributes.time)
    if problem is None:
        problem = next(
            (f"CloudEvents {name} {p}" for name in ("id", "source", "type") if (p := _text_problem(received, name))),
            None,
        )
    if problem is not None:
        return Unreadable(
            f"{received.attributes.type}: {problem}",
            ParkCategory.MALFORMED,
            team_id=getattr(received.event, "team_id", None),
        )
    return received


async def park_copy(
    broker: RabbitBroker,
    events: EventPublisher,
    counter: Counter,
    queue: str,
    message: Delivery,
    reason: str,
    category: ParkCategory,
    *,
    team_id: Any = None,
    correlation_id: str | None = None,
) -> None:
    """Copy ``message`` to the parking queue ``<queue>.dead`` with ``reason``, report it (``MessageParked``) and
    count it once. The caller acknowledges the original only after this returns; if it raises, nothing was parked
    for good and the original stays unacknowledged."""
    reason = redact(reason)[:500]
    headers = {k: v for k, v in message.headers.items() if not k.startswith("x-")}
    headers |= {
        PARKED_REASON_HEADER: reason,
        PARKED_CATEGORY_HEADER: category.value,
        PARKED_AT_HEADER: utc_now().isoformat(),
        PARKED_FROM_HEADER: queue,
    }
    await broker.publish(
        message.body,
        exchange=DEAD_LETTER_EXCHANGE,
        routing_key=dead_letter_routing_key(queue),
        headers=headers,
        message_id=message.message_id,
        correlation_id=message.correlation_id,
        content_type=message.content_type,
        persist=True,
        mandatory=True,
        timeout=PARK_TIMEOUT_SECONDS,
    )
    original_type = headers.get("cloudEvents_type")
    delivery_count = message.headers.get("x-delivery-count")
    await events.publish(
        MessageParked(
            team_id=team_id,
            correlation_id=correlation_id or message.correlation_id or message.message_id or "unknown",
            actor=SYSTEM_ACTOR,
            occurred_at=utc_now(),
            original_message_id=message.message_id or None,
            original_type=original_type if isinstance(original_type, str) else None,
            routing_key=message.routing_key,
            queue=queue,
            category=category,
            reason=reason,
            delivery_count=delivery_count if isinstance(delivery_count, int) else None,
        )
    )
    counter.labels(queue, category.value).inc()
    log.warning("message parked", extra={"queue": queue, "reason": reason, "message_id": message.message_id})


class Intake:
    """Reads Herald events from one queue and parks what it cannot read."""

    def __init__(
        self,
        broker: RabbitBroker,
        events: EventPublisher,
        queue: str,
        *,
        registry: CollectorRegistry | None = None,
        delivery_limit: int = DEFAULT_DELIVERY_LIMIT,
    ) -> None:
        self._broker = broker
        self._events = events
        self.queue = queue
        self.delivery_limit = delivery_limit
        self.parked = parked_messages_counter(registry or CollectorRegistry())
        for category in ParkCategory:
            self.parked.labels(queue, category.value)  # every series exists from the start (rate() sees the first)

    async def read(self, message: Delivery) -> ReceivedEvent | None:
        """The event in ``message``, or ``None`` if it was parked (and acknowledged) instead.

        Every header and attribute is checked here, before any handler sees the message.
        """
        checked = message.read()
        if isinstance(checked, Unreadable):
            await self.park(message, checked.reason, checked.category, team_id=checked.team_id)
            return None
        return checked

    async def failed(self, message: Delivery, error: BaseException, received: ReceivedEvent | None = None) -> bool:
        """A handler failed on ``message``: park it (and return ``True``) if its content is at fault or this was the
        last delivery the queue allows; else, or if parking itself failed (the broker is away), return ``False``
        and the caller requeues it."""
        event = received.event if received is not None else None
        team_id = getattr(event, "team_id", None)
        correlation_id = getattr(event, "correlation_id", None)
        verdict = park_reason(error, message.headers, self.delivery_limit)
        if verdict is None:
            return False
        reason, category = verdict
        try:
            await self.park(message, reason, category, team_id=team_id, correlation_id=correlation_id)
        except Exception:
            log.exception("parking failed; the message is requeued", extra={"queue": self.queue})
            return False
        return True

    def watch_dead_letters(self, *, prefetch: int = 10) -> None:
        """Subscribe to ``<queue>.dead.watch`` (declared by :func:`declare_work_queue`): count and report what the
        broker dead-lettered by itself; what this intake parked was counted and reported already. Call before the
        broker starts."""

        @self._broker.subscriber(
            RabbitQueue(dead_letter_routing_key(self.queue) + WATCH_SUFFIX, queue_type=QueueType.QUORUM, declare=False),
            ack_policy=AckPolicy.MANUAL,
            title=f"{self.queue}:dead-letter-watch",
        )
        async def watch(message: RabbitMessage) -> None:
            headers = message.headers or {}
            if PARKED_CATEGORY_HEADER not in headers:
                await self._report_broker_dead_letter(message, headers)
            await message.ack()

    async def _report_broker_dead_letter(self, message: RabbitMessage, headers: dict[str, Any]) -> None:
        why = headers.get("x-first-death-reason")
        why = why.decode(errors="replace") if isinstance(why, bytes) else str(why or "unknown")
        count = headers.get("x-delivery-count")
        original_type = headers.get("cloudEvents_type")
        reason = f"dead-lettered by the broker ({why})" + (
            f" after {count + 1} deliveries: the consumer failed or crashed on each" if isinstance(count, int) else ""
        )
        category = ParkCategory.POISON if why == "delivery_limit" else ParkCategory.MALFORMED
        self.parked.labels(self.queue, category.value).inc()
        await self._events.publish(
            MessageParked(
                team_id=None,
                correlation_id=message.correlation_id or message.message_id or "unknown",
                actor=SYSTEM_ACTOR,
                occurred_at=utc_now(),
                original_message_id=message.message_id or None,
                original_type=original_type if isinstance(original_type, str) else None,
                routing_key=_first_routing_key(headers) or message.raw_message.routing_key or "",
                queue=self.queue,
                category=category,
                reason=reason,
                delivery_count=count + 1 if isinstance(count, int) else None,
            )
        )
        log.warning("message dead-lettered by the broker", extra={"queue": self.queue, "reason": reason})

    async def park(
        self,
        message: Delivery,
        reason: str,
        category: ParkCategory,
        *,
        team_id: Any = None,
        correlation_id: str | None = None,
    ) -> None:
        """Copy ``message`` to the parking queue with ``reason``, report it, then acknowledge the original."""
        await park_copy(
            self._broker,
            self._events,
            self.parked,
            self.queue,
            message,
            reason,
            category,
            team_id=team_id,
            correlation_id=correlation_id,
        )
        await message.ack()
