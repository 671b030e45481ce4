"""Message handling events: a consumer parked a message it could not handle, an operator replayed or purged one.

These are the only events whose ``team_id`` is optional: a parked message may be so malformed that its team is
unknown (bad JSON, unknown type, no ``team_id``), and parking it must still be recorded. Producers set it whenever
they could read it.
"""

from __future__ import annotations

from enum import StrEnum
from uuid import UUID

from pydantic import Field

from herald.contracts.base import Event, ShortText

_ANY_SERVICE = ("any-service",)


class ParkCategory(StrEnum):
    """Why a message went to a parking queue (``<queue>.dead`` on ``herald.dlx``)."""

    MALFORMED = "malformed"
    """Missing CloudEvents headers, bad JSON, or a payload that fails validation."""
    UNKNOWN_TYPE = "unknown_type"
    """An event type or version the consumer does not know."""
    POISON = "poison"
    """The message crashed the consumer repeatedly (delivery limit reached)."""
    ATTEMPTS_EXHAUSTED = "attempts_exhausted"
    """Every retry of the message failed."""


class _MessageEvent(Event):
    """Fields shared by the message handling events."""

    SUBJECT_FIELD = "original_message_id"
    CONSUMERS = ("audit",)

    team_id: UUID | None = None
    """The team of the message; absent when the message was too malformed to tell (the only optional team_id)."""
    original_message_id: str | None = None
    """The AMQP ``message_id`` (the CloudEvents ``id``) of the message, if it had one."""
    original_type: str | None = None
    """Its CloudEvents ``type`` header, if it had one."""
    routing_key: str
    """The routing key it was published with."""


class MessageParked(_MessageEvent):
    """A consumer moved a message it could not handle to its parking queue."""

    TYPE = "com.herald.message.parked"
    VERSION = 1
    PRODUCERS = _ANY_SERVICE

    queue: str = Field(min_length=1)
    """The queue the message was consumed from."""
    category: ParkCategory
    """Why, as a category."""
    reason: ShortText
    """Why, in words (e.g. the :class:`~herald.contracts.errors.ContractError` message)."""
    delivery_count: int | None = Field(default=None, ge=0)
    """How often the broker had delivered it, if known."""


class MessageReplayed(_MessageEvent):
    """An operator sent a parked message back to the queue it came from."""

    TYPE = "com.herald.message.replayed"
    VERSION = 1
    PRODUCERS = ("operator-tooling",)

    parking_queue: str = Field(min_length=1)
    """The parking queue the message was taken from."""
    target_queue: str = Field(min_length=1)
    """The queue it was sent back to."""
    note: str | None = None
    """The operator's note, e.g. why replaying should now succeed."""


class MessagePurged(_MessageEvent):
    """An operator deleted a parked message for good (it cannot be recovered)."""

    TYPE = "com.herald.message.purged"
    VERSION = 1
    PRODUCERS = ("operator-tooling",)

    parking_queue: str = Field(min_length=1)
    """The parking queue the message was deleted from."""
    parked_reason: str | None = None
    """Why it had been parked, as its ``herald-parked-reason`` header said (absent for the broker's dead-letters)."""
    note: str | None = None
    """The operator's note, e.g. why the message is not worth replaying."""
