"""Fault injection shared by the three sandboxes.

A test (or the demo) arms faults through the control API; each platform route asks :class:`FaultBook` whether a
fault applies to the call it is about to serve and, if so, answers with that platform's *real* error body.

Fault kinds:

``error``
    The next ``count`` matching calls fail with the platform error named by ``error`` (each sandbox documents
    its names, e.g. ``server_error``, ``rate_limited``, ``duplicate``, ``expired_token``).
``accept_then_fail``
    The post is stored, but the client gets a failure: ``mode`` is ``503``, ``timeout`` (the response is held
    for ``latency_ms``), ``drop`` (the connection is cut mid-response) or ``late`` (the post is stored only
    ``latency_ms`` after the call arrived, whether or not the client still waits: a platform finishing a create
    after the client's timeout; X's post creation only). Exercises reconciliation.
``latency``
    The next ``count`` matching calls are delayed by ``latency_ms``.
``rate_limit``
    Every matching call until ``until`` gets the platform's rate-limit answer with reset hints pointing at
    ``until``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from enum import StrEnum

from pydantic import BaseModel, Field


class Operation(StrEnum):
    """Which kind of platform call a fault applies to."""

    CREATE = "create"
    READ = "read"
    TOKEN = "token"  # the OAuth token endpoint (code exchange and refresh)
    UPLOAD = "upload"  # a media upload call (initialize, byte upload, finalize)
    PROCESSING = "processing"  # the platform's processing of an uploaded media item (its outcome)
    ANY = "any"


class FaultKind(StrEnum):
    ERROR = "error"
    ACCEPT_THEN_FAIL = "accept_then_fail"
    LATENCY = "latency"
    RATE_LIMIT = "rate_limit"


class AcceptThenFailMode(StrEnum):
    STATUS_503 = "503"
    TIMEOUT = "timeout"
    DROP = "drop"
    LATE = "late"


class Fault(BaseModel):
    """One armed fault. ``account`` ``None`` means every account (global)."""

    kind: FaultKind
    operation: Operation = Operation.CREATE
    account: str | None = None
    count: int = Field(default=1, ge=1, description="How many matching calls it affects (not for rate_limit).")
    error: str | None = Field(default=None, description="Platform error name, for kind=error.")
    mode: AcceptThenFailMode = AcceptThenFailMode.STATUS_503
    latency_ms: int = Field(default=0, ge=0)
    until: dt.datetime | None = Field(default=None, description="For kind=rate_limit: limited until then.")


class FaultBook:
    """The armed faults of one sandbox. Thread-safe; matching faults are consumed in arming order."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()

    def arm(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def armed(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def take(self, operation: Operation, account: str | None) -> Fault | None:
        """Return the fault that applies to this call, consuming one use of it (rate limits last until ``until``)."""
        now = dt.datetime.now(dt.UTC)
        with self._lock:
            for fault in list(self._faults):
                if fault.operation not in (operation, Operation.ANY):
                    continue
                if fault.account is not None and fault.account != account:
                    continue
                if fault.kind is FaultKind.RATE_LIMIT:
                    if fault.until is not None and fault.until <= now:
                        self._faults.remove(fault)
                        continue
                    return fault
                fault.count -= 1
                if fault.count <= 0:
                    self._faults.remove(fault)
                return fault
        return None


async def apply_latency(fault: Fault | None) -> None:
    """Sleep for a latency fault; other kinds are handled by the platform route."""
    if fault is not None and fault.kind is FaultKind.LATENCY and fault.latency_ms:
        await asyncio.sleep(fault.latency_ms / 1000)
