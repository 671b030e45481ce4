"""What the message intake checks before any handler runs, beyond the contract: every header Herald reads, every
string it would store and every instant it would compute with.

The contract (:func:`herald.contracts.envelope.read_amqp`) says whether a message is a Herald event. These checks
say whether a handler can process it without tripping over its content: a NUL in a CloudEvents attribute that the
audit log stores, an attempt counter that is not a number, a replay stamp that is not a date-time, an instant so
close to the end of the calendar that adding a retry delay overflows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, Final

from pydantic import BaseModel

from herald.kit.validation import parse_instant, text_problem, value_problems

MAX_ATTEMPT: Final = 1000
"""More attempts than any retry policy allows (20 at most): a larger counter is not one Herald wrote."""
MAX_HEADER_TEXT: Final = 4096

# Named here, not imported from herald.kit.consumers, which imports this module.
ATTEMPT = "herald-attempt"
RETRY_REASON = "herald-retry-reason"
REPLAYED_AT = "herald-replayed-at"


def _attempt_problem(value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | str):
        return f"header {ATTEMPT} must be a whole number, not {type(value).__name__}"
    try:
        number = int(value)
    except ValueError:
        return f"header {ATTEMPT} {str(value)[:40]!r} is not a whole number"
    if not 1 <= number <= MAX_ATTEMPT:
        return f"header {ATTEMPT} {number} is out of range (1..{MAX_ATTEMPT})"
    return None


def _text(value: object) -> str | None:
    if isinstance(value, bytes):
        try:
            return value.decode()
        except UnicodeDecodeError:
            return None
    return value if isinstance(value, str) else None


def header_problem(headers: Mapping[str, Any], *, message_id: str | None, correlation_id: str | None) -> str | None:
    """Why the message's headers or properties cannot be processed, or ``None``. The broker's ``x-`` headers are
    its own and are not checked."""
    for name, value in (("message_id", message_id), ("correlation_id", correlation_id)):
        if value is not None and (problem := text_problem(value)) is not None:
            return f"AMQP {name} {problem}"
    for key, value in headers.items():
        if (problem := _header_value_problem(key, value)) is not None:
            return problem
    return _herald_header_problem(headers)


def _header_value_problem(key: object, value: object) -> str | None:
    if not isinstance(key, str) or text_problem(key) is not None:
        return "a header name cannot be stored (not text, or a NUL in it)"
    if key.startswith("x-"):
        return None
    for problem in value_problems(value, f"header {key}"):
        return problem
    text = _text(value)
    if isinstance(value, bytes) and text is None and key.startswith(("herald-", "cloudEvents")):
        return f"header {key} is not UTF-8 text"
    if text is not None and len(text) > MAX_HEADER_TEXT:
        return f"header {key} is longer than {MAX_HEADER_TEXT} characters"
    return None


def _herald_header_problem(headers: Mapping[str, Any]) -> str | None:
    if ATTEMPT in headers and (problem := _attempt_problem(headers[ATTEMPT])) is not None:
        return problem
    if RETRY_REASON in headers and _text(headers[RETRY_REASON]) is None:
        return f"header {RETRY_REASON} must be text"
    if REPLAYED_AT in headers:
        replayed = _text(headers[REPLAYED_AT])
        if replayed is None:
            return f"header {REPLAYED_AT} must be an RFC 3339 date-time"
        try:
            parse_instant(replayed)
        except ValueError as error:
            return f"header {REPLAYED_AT}: {error}"
    return None


def event_problem(event: BaseModel, time: dt.datetime | None = None) -> str | None:
    """Why a parsed event cannot be processed (a string PostgreSQL refuses, an instant out of range), or ``None``."""
    for problem in value_problems({"time": time, **event.model_dump()}):
        return problem
    return None
