"""What a parked message says about itself, and what it looks like when it is sent back.

A message reaches a parking queue ``<queue>.dead`` in one of two ways:

* a consumer's :class:`~herald.kit.consumers.Intake` parked it (malformed, unknown type, attempts exhausted): it
  carries ``herald-parked-reason``, ``-category``, ``-at`` and ``-from`` headers;
* the broker dead-lettered it, usually because it crashed its consumer until the queue's delivery limit: it
  carries the broker's ``x-death`` / ``x-first-death-*`` headers instead.

:func:`replay_headers` is what a replayed copy carries: the original headers without any ``herald-parked-*`` or
broker ``x-*`` header, and without ``herald-attempt`` / ``herald-retry-reason``, so a replayed publish request
starts again at attempt 1 and gets all its attempts (the publisher reads a missing ``herald-attempt`` as 1).
``herald-replayed-at`` records when it was replayed.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from herald.contracts.base import service_actor
from herald.contracts.operations import MessagePurged, MessageReplayed
from herald.contracts.routing import dead_letter_routing_key
from herald.kit.consumers import (
    ATTEMPT_HEADER,
    PARKED_AT_HEADER,
    PARKED_CATEGORY_HEADER,
    PARKED_FROM_HEADER,
    PARKED_REASON_HEADER,
    REPLAYED_AT_HEADER,
    RETRY_REASON_HEADER,
)

PARKED_PREFIX = "herald-parked-"
DEAD_SUFFIX = dead_letter_routing_key("")
_RESET_HEADERS = frozenset({ATTEMPT_HEADER, RETRY_REASON_HEADER, REPLAYED_AT_HEADER})
_BROKER_CATEGORIES = {"delivery_limit": "poison", "rejected": "rejected", "expired": "expired", "maxlen": "overflow"}


def parking_queue_name(queue: str) -> str:
    """``publisher.x`` or ``publisher.x.dead`` -> ``publisher.x.dead``."""
    return queue if queue.endswith(DEAD_SUFFIX) else dead_letter_routing_key(queue)


def work_queue_of(parking_queue: str) -> str:
    """The work queue a parking queue belongs to: ``publisher.x.dead`` -> ``publisher.x``."""
    if not parking_queue.endswith(DEAD_SUFFIX) or parking_queue == DEAD_SUFFIX:
        raise ValueError(f"{parking_queue!r} is not a parking queue (<queue>{DEAD_SUFFIX})")
    return parking_queue.removesuffix(DEAD_SUFFIX)


def text(value: object) -> str | None:
    """A header value as text (AMQP long strings may arrive as bytes)."""
    if value is None:
        return None
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode(errors="replace")
    return str(value)


def _first_death(headers: Mapping[str, Any]) -> dict[str, Any]:
    deaths = headers.get("x-death")
    if isinstance(deaths, list) and deaths and isinstance(deaths[-1], Mapping):
        return dict(deaths[-1])  # the oldest death is last: x-death is newest first
    return {}


def _body_fields(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


@dataclass(frozen=True)
class ParkedMessage:
    """One message in a parking queue, as an operator reads it."""

    parking_queue: str
    message_id: str | None
    event_type: str | None
    category: str
    reason: str
    parked_at: str | None
    parked_from: str
    routing_key: str
    team_id: str | None
    correlation_id: str | None
    body: bytes = field(repr=False)
    headers: dict[str, Any] = field(repr=False)

    @classmethod
    def read(
        cls,
        parking_queue: str,
        *,
        body: bytes,
        headers: Mapping[str, Any] | None,
        message_id: str | None,
        correlation_id: str | None,
        message_type: str | None,
        routing_key: str | None,
    ) -> ParkedMessage:
        headers = dict(headers or {})
        death = _first_death(headers)
        fields = _body_fields(body)
        broker_reason = text(headers.get("x-first-death-reason") or death.get("reason"))
        from_queue = text(headers.get(PARKED_FROM_HEADER)) or text(headers.get("x-first-death-queue"))
        if headers.get(PARKED_REASON_HEADER) is not None:
            category = text(headers.get(PARKED_CATEGORY_HEADER)) or "unknown"
            reason = text(headers.get(PARKED_REASON_HEADER)) or ""
            parked_at = text(headers.get(PARKED_AT_HEADER))
        else:
            category = _BROKER_CATEGORIES.get(broker_reason or "", broker_reason or "unknown")
            reason = f"dead-lettered by the broker ({broker_reason or 'no reason given'})"
            count = death.get("count")
            if isinstance(count, int):
                reason += f" after {count} death(s)"
            time = death.get("time")
            parked_at = time.isoformat() if isinstance(time, dt.datetime) else None
        keys = death.get("routing-keys")
        original_key = text(keys[0]) if isinstance(keys, list) and keys else None
        return cls(
            parking_queue=parking_queue,
            message_id=message_id or None,
            event_type=text(headers.get("cloudEvents_type")) or message_type or None,
            category=category,
            reason=reason,
            parked_at=parked_at,
            parked_from=from_queue or work_queue_of(parking_queue),
            routing_key=original_key or routing_key or "",
            team_id=text(fields.get("team_id")),
            correlation_id=text(fields.get("correlation_id")) or correlation_id or None,
            body=body,
            headers=headers,
        )

    def summary(self) -> dict[str, Any]:
        """The fields an operator looks at (JSON-friendly; no body)."""
        return {
            "message_id": self.message_id,
            "type": self.event_type,
            "category": self.category,
            "reason": self.reason,
            "parked_at": self.parked_at,
            "parked_from": self.parked_from,
            "routing_key": self.routing_key,
            "team_id": self.team_id,
            "correlation_id": self.correlation_id,
        }


def replay_headers(headers: Mapping[str, Any], now: dt.datetime) -> dict[str, Any]:
    """The headers of the replayed copy (see the module docstring)."""
    kept = {
        key: value
        for key, value in headers.items()
        if not key.startswith(("x-", PARKED_PREFIX)) and key not in _RESET_HEADERS
    }
    kept[REPLAYED_AT_HEADER] = now.isoformat()
    return kept


def replayed_event(parked: ParkedMessage, target_queue: str, note: str | None, now: dt.datetime) -> MessageReplayed:
    """The ``MessageReplayed`` event that records one replay (for the audit log)."""
    return MessageReplayed(
        team_id=_uuid_or_none(parked.team_id),
        correlation_id=(parked.correlation_id or parked.message_id or "operator-replay")[:255],
        actor=service_actor("operator"),
        occurred_at=now,
        original_message_id=parked.message_id,
        original_type=parked.event_type,
        routing_key=parked.routing_key,
        parking_queue=parked.parking_queue,
        target_queue=target_queue,
        note=note,
    )


def purged_event(parked: ParkedMessage, note: str | None, now: dt.datetime) -> MessagePurged:
    """The ``MessagePurged`` event that records one deletion (for the audit log)."""
    return MessagePurged(
        team_id=_uuid_or_none(parked.team_id),
        correlation_id=(parked.correlation_id or parked.message_id or "operator-purge")[:255],
        actor=service_actor("operator"),
        occurred_at=now,
        original_message_id=parked.message_id,
        original_type=parked.event_type,
        routing_key=parked.routing_key,
        parking_queue=parked.parking_queue,
        parked_reason=parked.reason[:2000] or None,
        note=note,
    )


def _uuid_or_none(value: str | None) -> uuid.UUID | None:
    if value is None:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return None
