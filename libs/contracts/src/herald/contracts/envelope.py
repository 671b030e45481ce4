"""Herald events on the wire: CloudEvents 1.0, AMQP protocol binding, binary content mode.

The AMQP body is the event's JSON payload (``content_type: application/json``). The CloudEvents attributes are
message headers with the ``cloudEvents_`` prefix (``id``, ``source``, ``type``, ``specversion``, ``time`` as an
RFC 3339 string, ``subject``, ``dataschema``), so any CloudEvents AMQP reader understands the message, and a
FastStream handler can take the pydantic model straight from the body. The AMQP ``message_id`` is the event id and
the AMQP ``type`` is the CloudEvents type.

:func:`to_amqp` builds an :class:`AmqpEnvelope` to publish; :func:`from_amqp` (or :func:`read_amqp`, which also
returns the attributes) turns a received body and headers back into an event, raising a
:class:`~herald.contracts.errors.ContractError` that says what is wrong.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, cast
from uuid import uuid4

from pydantic import ValidationError

from herald.contracts.base import Event
from herald.contracts.errors import MalformedEvent
from herald.contracts.registry import REGISTRY, AnyEvent, event_class
from herald.contracts.routing import EVENTS_EXCHANGE, routing_key
from herald.contracts.schemas import dataschema

SPECVERSION: Final = "1.0"
CONTENT_TYPE: Final = "application/json"
HEADER_PREFIX: Final = "cloudEvents_"
"""The header prefix Herald writes. Readers also accept ``cloudEvents:`` (both are allowed by the binding)."""
_READ_PREFIXES: Final = (HEADER_PREFIX, "cloudEvents:")
_REQUIRED: Final = ("id", "source", "type", "specversion")


def service_source(service: str) -> str:
    """The CloudEvents ``source`` Herald services use: ``/herald/<service>``, e.g. ``/herald/scheduler``."""
    if not service or "/" in service:
        raise ValueError(f"invalid service name {service!r}")
    return f"/herald/{service}"


@dataclass(frozen=True)
class AmqpEnvelope:
    """Everything needed to publish one event. With FastStream::

    await broker.publish(
        env.body,
        exchange=env.exchange,
        routing_key=env.routing_key,
        headers=env.headers,
        message_id=env.message_id,
        content_type=env.content_type,
        message_type=env.type,
        persist=True,
    )
    """

    exchange: str
    routing_key: str
    body: bytes
    headers: dict[str, str]
    message_id: str
    content_type: str
    type: str


@dataclass(frozen=True)
class CloudEventAttributes:
    """The CloudEvents attributes read from a message's headers."""

    id: str
    source: str
    type: str
    specversion: str
    time: dt.datetime | None = None
    subject: str | None = None
    dataschema: str | None = None


@dataclass(frozen=True)
class ReceivedEvent:
    """An event read from a message, with its CloudEvents attributes (e.g. ``attributes.id`` for idempotency)."""

    event: AnyEvent
    attributes: CloudEventAttributes


def rfc3339(value: dt.datetime) -> str:
    """Format an aware datetime as an RFC 3339 UTC string with a ``Z`` suffix."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("naive datetime: pass a timezone-aware datetime")
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def to_amqp(
    event: Event,
    *,
    source: str,
    subject: str | None = None,
    event_id: str | None = None,
    time: dt.datetime | None = None,
) -> AmqpEnvelope:
    """Build the AMQP message for ``event``.

    ``source`` identifies the producer (see :func:`service_source`). ``subject`` defaults to the id of what the
    event is about (``Event.ce_subject()``). ``event_id`` defaults to a new UUID; pass a stored one (e.g. an outbox
    row id) so that a re-publish is recognisably the same event. ``time`` defaults to ``event.occurred_at``.
    """
    if not source:
        raise ValueError("source must not be empty")
    ce_type = event.ce_type()
    if REGISTRY.get(ce_type) is not type(event):
        raise ValueError(f"{type(event).__name__} is not the registered class for {ce_type}")
    ce_id = event_id or str(uuid4())
    headers = {
        f"{HEADER_PREFIX}id": ce_id,
        f"{HEADER_PREFIX}source": source,
        f"{HEADER_PREFIX}type": ce_type,
        f"{HEADER_PREFIX}specversion": SPECVERSION,
        f"{HEADER_PREFIX}time": rfc3339(time or event.occurred_at),
        f"{HEADER_PREFIX}dataschema": dataschema(type(event)),
    }
    ce_subject = subject or event.ce_subject()
    if ce_subject:
        headers[f"{HEADER_PREFIX}subject"] = ce_subject
    return AmqpEnvelope(
        exchange=EVENTS_EXCHANGE,
        routing_key=routing_key(event),
        body=event.model_dump_json().encode(),
        headers=headers,
        message_id=ce_id,
        content_type=CONTENT_TYPE,
        type=ce_type,
    )


def from_amqp(body: bytes, headers: Mapping[str, Any], *, content_type: str | None = None) -> AnyEvent:
    """Read the event in a received message. Raises ``UnknownEventType`` or ``MalformedEvent``.

    Pass the message's ``content_type`` to have anything but JSON rejected; ``None`` skips that check.
    """
    return read_amqp(body, headers, content_type=content_type).event


def read_amqp(body: bytes, headers: Mapping[str, Any], *, content_type: str | None = None) -> ReceivedEvent:
    """Like :func:`from_amqp`, but also return the CloudEvents attributes."""
    attributes = read_attributes(headers)
    cls = event_class(attributes.type)
    if content_type is not None and content_type.split(";")[0].strip().lower() != CONTENT_TYPE:
        raise MalformedEvent(f"{attributes.type}: content type {content_type!r} is not {CONTENT_TYPE}")
    return ReceivedEvent(event=_parse_body(cls, body), attributes=attributes)


def read_attributes(headers: Mapping[str, Any]) -> CloudEventAttributes:
    """Read the CloudEvents attributes from message headers (either prefix); raises ``MalformedEvent``."""
    values = _ce_headers(headers)
    missing = [f"{HEADER_PREFIX}{name}" for name in _REQUIRED if not values.get(name)]
    if missing:
        raise MalformedEvent(f"missing CloudEvents header(s): {', '.join(missing)}")
    if values["specversion"] != SPECVERSION:
        raise MalformedEvent(f"unsupported CloudEvents specversion {values['specversion']!r}")
    return CloudEventAttributes(
        id=_text(values["id"]),
        source=_text(values["source"]),
        type=_text(values["type"]),
        specversion=SPECVERSION,
        time=_parse_time(values.get("time")),
        subject=_optional_text(values.get("subject")),
        dataschema=_optional_text(values.get("dataschema")),
    )


def _ce_headers(headers: Mapping[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in headers.items():
        for prefix in _READ_PREFIXES:
            if key.startswith(prefix):
                found[key.removeprefix(prefix)] = _decoded(key, value)
    return found


def _decoded(key: str, value: object) -> object:
    if not isinstance(value, bytes):
        return value
    try:
        return value.decode()
    except UnicodeDecodeError:
        raise MalformedEvent(f"header {key} is not UTF-8 text") from None


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise MalformedEvent(f"CloudEvents header value {value!r} is not a string")
    return value


def _optional_text(value: object) -> str | None:
    return None if value is None else _text(value)


def _parse_time(value: object) -> dt.datetime | None:
    # The binding allows an AMQP timestamp (ms since the epoch; the cloudevents SDK writes that) or RFC 3339.
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return dt.datetime.fromtimestamp(value / 1000, tz=dt.UTC)
        except (ValueError, OverflowError, OSError):
            raise MalformedEvent(f"cloudEvents_time {value!r} is not a valid timestamp") from None
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC)
    try:
        parsed = dt.datetime.fromisoformat(_text(value))
    except ValueError:
        raise MalformedEvent(f"cloudEvents_time {value!r} is not an RFC 3339 timestamp") from None
    if parsed.tzinfo is None:
        raise MalformedEvent(f"cloudEvents_time {value!r} has no UTC offset")
    return parsed.astimezone(dt.UTC)


def _parse_body(cls: type[Event], body: bytes) -> AnyEvent:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedEvent(f"{cls.ce_type()}: body is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise MalformedEvent(f"{cls.ce_type()}: body is a JSON {type(data).__name__}, expected an object")
    try:
        return cast(AnyEvent, cls.model_validate(data))
    except ValidationError as exc:
        raise MalformedEvent(f"{cls.ce_type()}: invalid payload: {_summarise(exc)}") from None


def _summarise(exc: ValidationError, limit: int = 5) -> str:
    errors = exc.errors(include_url=False, include_input=False)
    parts = [f"{'.'.join(str(p) for p in error['loc']) or 'body'}: {error['msg']}" for error in errors[:limit]]
    if len(errors) > limit:
        parts.append(f"and {len(errors) - limit} more")
    return "; ".join(parts)
