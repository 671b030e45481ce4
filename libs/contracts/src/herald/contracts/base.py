"""The base classes and field types every Herald event is built from.

An event is a frozen pydantic model. Its class carries the contract metadata:

``TYPE``
    The event type without version, e.g. ``com.herald.publish.requested``.
``VERSION``
    The payload version (``1`` for ``v1``). The CloudEvents ``type`` attribute is ``f"{TYPE}.v{VERSION}"``.
``SUBJECT_FIELD``
    The field whose value becomes the CloudEvents ``subject`` (what the event is about).
``PRODUCERS`` / ``CONSUMERS``
    The services expected to send and receive the event (documentation, AsyncAPI operations).

Models ignore unknown fields (``extra="ignore"``, the tolerant reader): a producer may add an optional field to a
published version and consumers built against the older model (``from_amqp``, ``model_validate``, a FastStream
handler parameter) keep working. Pydantic runs the same validation for building and reading, so the price is that
a misspelt keyword argument is dropped silently when a producer builds an event. mypy catches it with the pydantic
plugin's ``init_forbid_extra = true`` (and ``init_typed = true`` checks the argument types).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, ClassVar, Final
from uuid import UUID

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

TYPE_PREFIX: Final = "com.herald."
"""Every Herald event type starts with this reverse-DNS prefix."""

SYSTEM_ACTOR: Final = "system"
"""The actor of events caused by Herald itself rather than by a caller (a timer, a sweep)."""

_ACTOR_PATTERN: Final = r"^(system|service:[a-z0-9][a-z0-9._-]{0,62}|api_key:[A-Za-z0-9._-]{1,64})$"
_SERVICE_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
_KEY_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def _as_utc(value: dt.datetime) -> dt.datetime:
    try:
        return value.astimezone(dt.UTC)
    except OverflowError:  # e.g. 9999-12-31T23:59:59-05:00: a validation error naming the field, not a crash
        raise ValueError("date-time is out of range once converted to UTC") from None


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_as_utc)]
"""A timezone-aware datetime, normalised to UTC. Naive datetimes are rejected (their zone is a guess)."""

Actor = Annotated[str, StringConstraints(pattern=_ACTOR_PATTERN)]
"""Who caused the event: ``system``, ``service:<name>`` or ``api_key:<key id>`` (the id, never the key)."""

CorrelationId = Annotated[str, StringConstraints(min_length=1, max_length=255)]
"""Ties together every event caused by one request, e.g. all attempts of one distribution."""


def service_actor(name: str) -> str:
    """The actor string for a Herald service, e.g. ``service_actor("scheduler") == "service:scheduler"``."""
    if not _SERVICE_NAME.match(name):
        raise ValueError(f"invalid service name {name!r}: use lowercase letters, digits, '.', '_' or '-'")
    return f"service:{name}"


def api_key_actor(key_id: str) -> str:
    """The actor string for a caller authenticated by an API key; pass the key's id, never the key itself."""
    if not _KEY_ID.match(key_id):
        raise ValueError(f"invalid API key id {key_id!r}")
    return f"api_key:{key_id}"


class Event(BaseModel):
    """Fields and metadata shared by every Herald event. Subclass :class:`TeamEvent` for a new event."""

    model_config = ConfigDict(frozen=True, extra="ignore", use_attribute_docstrings=True)

    TYPE: ClassVar[str]
    VERSION: ClassVar[int]
    SUBJECT_FIELD: ClassVar[str | None] = None
    PRODUCERS: ClassVar[tuple[str, ...]] = ()
    CONSUMERS: ClassVar[tuple[str, ...]] = ()

    correlation_id: CorrelationId
    """Ties together every event caused by one request (for a distribution: all its attempts and outcomes)."""
    actor: Actor
    """Who caused the event: ``system``, ``service:<name>`` or ``api_key:<key id>``."""
    occurred_at: UtcDatetime
    """When it happened (UTC). Also sent as the CloudEvents ``time`` attribute."""

    @classmethod
    def ce_type(cls) -> str:
        """The CloudEvents ``type`` attribute: type and version, e.g. ``com.herald.publish.requested.v1``."""
        return f"{cls.TYPE}.v{cls.VERSION}"

    @classmethod
    def version_label(cls) -> str:
        """The version as written in file names and types, e.g. ``v1``."""
        return f"v{cls.VERSION}"

    def ce_subject(self) -> str | None:
        """The CloudEvents ``subject``: the id of what the event is about, if the event has one."""
        if self.SUBJECT_FIELD is None:
            return None
        value = getattr(self, self.SUBJECT_FIELD)
        return None if value is None else str(value)


class TeamEvent(Event):
    """An event that belongs to one team. Every event except the message-handling ones is a team event."""

    team_id: UUID
    """The team (tenant) the event belongs to."""


ShortText = Annotated[str, Field(min_length=1, max_length=2000)]
"""A non-empty human-readable explanation (a reason, an error message)."""
