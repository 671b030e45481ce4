"""Why a message cannot be read as a Herald event.

``ContractError``
    Base class. ``str(error)`` says what is wrong, in words fit for a ``MessageParked.reason``;
    ``park_category`` is the matching :class:`~herald.contracts.operations.ParkCategory`.
``UnknownEventType(ContractError)``
    The ``cloudEvents_type`` header names a type or version this library does not know (``ce_type`` holds it).
``MalformedEvent(ContractError)``
    A required CloudEvents header is missing or invalid, the body is not a JSON object, or the payload fails
    validation against the event's model.

Neither is worth retrying: the same message will fail the same way. Consumers park it.
"""

from __future__ import annotations

from typing import ClassVar, Final

from herald.contracts.operations import ParkCategory

MAX_REASON_LENGTH: Final = 1000
"""Reasons are cut to this length (they may quote header values), so they fit ``MessageParked.reason``."""


class ContractError(Exception):
    """A message that is not a valid Herald event."""

    park_category: ClassVar[ParkCategory] = ParkCategory.MALFORMED

    def __init__(self, reason: str) -> None:
        if len(reason) > MAX_REASON_LENGTH:
            reason = reason[: MAX_REASON_LENGTH - 3] + "..."
        super().__init__(reason)
        self.reason = reason


class UnknownEventType(ContractError):
    """The event type or version is not known to this version of the contracts."""

    park_category = ParkCategory.UNKNOWN_TYPE

    def __init__(self, ce_type: str) -> None:
        super().__init__(f"unknown event type {ce_type!r} (not in the herald-contracts registry)")
        self.ce_type = ce_type


class MalformedEvent(ContractError):
    """The message's headers or body do not form a valid event."""
