"""What every edge of Herald accepts: text PostgreSQL can store, instants Python and PostgreSQL can both hold, and
IANA zone names. Shared by the public APIs (:mod:`herald.kit.api`) and the message intake
(:mod:`herald.kit.consumers`), so that a value refused at one edge is refused at every edge with the same words.

Text
    PostgreSQL refuses the NUL character in ``text`` and ``jsonb`` (``\\u0000``), and an unpaired UTF-16 surrogate
    (which JSON can carry as ``"\\ud800"``) cannot be encoded as UTF-8 at all. Both are refused; every other
    character is stored as given.
Instants
    A date-time must carry a UTC offset and, in UTC, lie in [:data:`EARLIEST`, :data:`LATEST`). The margins keep
    every offset and the date arithmetic the services do (misfire windows, retry delays, partitions) inside
    Python's years 1..9999; without them ``0001-01-01T00:00:00+01:00`` cannot even be converted to UTC. Only
    RFC 3339 text is a date-time: a plain number (which pydantic would read as a Unix timestamp) is not.
Zones
    A name of the IANA time zone database as published (the ``tzdata`` distribution's list: zones and their
    backward-compatible links such as ``UTC``), spelt exactly. Files that merely sit in a system zoneinfo directory
    (``localtime``, ``posixrules``, ``posix/...``) and ``Factory`` ("zone unknown") are refused.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Iterator
from importlib import resources
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, AwareDatetime, BeforeValidator

EARLIEST = dt.datetime(1, 1, 2, tzinfo=dt.UTC)
"""The earliest instant accepted (inclusive): one day after Python's minimum, so every offset converts."""
LATEST = dt.datetime(9999, 1, 1, tzinfo=dt.UTC)
"""The first instant refused: a year before Python's maximum, room for every delay the services add."""

_UNSAFE = re.compile("[\x00\ud800-\udfff]")
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:?\d{2})?$")
_NOT_ZONES = frozenset({"Factory"})


def text_problem(value: str) -> str | None:
    """Why PostgreSQL could not store ``value`` (a NUL or an unpaired surrogate), or ``None`` if it can."""
    match = _UNSAFE.search(value)
    if match is None:
        return None
    char = match.group()
    what = "a NUL character (\\u0000)" if char == "\x00" else f"an unpaired surrogate (\\u{ord(char):04x})"
    return f"contains {what} at position {match.start()}, which cannot be stored"


def check_text(value: str) -> str:
    """``value`` unchanged, or :class:`ValueError` saying why it cannot be stored."""
    problem = text_problem(value)
    if problem is not None:
        raise ValueError(f"text {problem}")
    return value


def unsafe_text(value: Any, path: tuple[str | int, ...] = ()) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Every string (or mapping key) inside ``value`` that cannot be stored: ``(path, problem)``."""
    if isinstance(value, str):
        problem = text_problem(value)
        if problem is not None:
            yield path, problem
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and (problem := text_problem(key)) is not None:
                yield (*path, key), f"key {problem}"
            yield from unsafe_text(item, (*path, key if isinstance(key, str | int) else str(key)))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from unsafe_text(item, (*path, index))


def check_instant(value: dt.datetime) -> dt.datetime:
    """``value`` in UTC, or :class:`ValueError` if it has no offset or lies outside [EARLIEST, LATEST)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("date-time has no UTC offset: add one (e.g. 'Z' or '+02:00')")
    try:
        utc = value.astimezone(dt.UTC)
    except (OverflowError, ValueError):
        utc = None
    if utc is None or not EARLIEST <= utc < LATEST:
        raise ValueError(
            f"date-time {value.isoformat()} is out of range: it must lie between {EARLIEST.isoformat()}"
            f" and {LATEST.isoformat()} (exclusive) in UTC"
        )
    return utc


def check_local_instant(naive: dt.datetime, zone: dt.tzinfo) -> None:
    """Refuse a wall-clock time whose instant in ``zone`` is out of range (checked with both DST folds)."""
    for fold in (0, 1):
        check_instant(naive.replace(tzinfo=zone, fold=fold))


def parse_instant(text: str) -> dt.datetime:
    """An RFC 3339 date-time with offset, in UTC; :class:`ValueError` says what is wrong."""
    check_text(text)
    if not _RFC3339.match(text):
        raise ValueError(f"{text[:64]!r} is not an RFC 3339 date-time (e.g. '2030-06-01T09:00:00Z')")
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text[:64]!r} is not a valid date-time") from None
    return check_instant(parsed)


def _rfc3339_only(value: object) -> object:
    # pydantic reads numbers (and numeric strings) as Unix timestamps; at Herald's edges a date-time is text.
    if isinstance(value, dt.datetime):
        return value
    if not isinstance(value, str) or not _RFC3339.match(value):
        raise ValueError("expected an RFC 3339 date-time with a UTC offset, e.g. '2030-06-01T09:00:00Z'")
    return value


ApiDatetime = Annotated[AwareDatetime, BeforeValidator(_rfc3339_only), AfterValidator(check_instant)]
"""A date-time at an API edge: RFC 3339 text with an offset, within range, normalised to UTC."""

SafeText = Annotated[str, AfterValidator(check_text)]
"""A string PostgreSQL can store (no NUL, no unpaired surrogate)."""


@functools.cache
def iana_zone_names() -> frozenset[str]:
    """Every zone name of the IANA database, as the ``tzdata`` distribution lists them."""
    listed = resources.files("tzdata").joinpath("zones").read_text(encoding="utf-8").split()
    return frozenset(listed) - _NOT_ZONES


def iana_zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``; :class:`ValueError` for anything else (``localtime``, paths, other spellings)."""
    if name not in iana_zone_names():
        shown = name[:64].encode("unicode_escape").decode()
        raise ValueError(f"unknown IANA time zone {shown!r} (e.g. 'Europe/Berlin', 'UTC')")
    return ZoneInfo(name)


_COLLECTIONS = (list, tuple, set, frozenset)


def value_problems(value: Any, path: str = "") -> Iterator[str]:
    """Every string PostgreSQL could not store and every instant out of range inside ``value`` (a model dump)."""
    # Every consumer checks every event it reads, and almost every event is clean: one flat pass answers that
    # (22 us for a PublishRequested against 35 for the walk below, which names each value's path as it goes).
    if _clean(value):
        return iter(())
    return _problems(value, path)


def _clean(value: Any) -> bool:
    """Whether ``value`` holds nothing :func:`_problems` would report (the same cases, without paths)."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if _UNSAFE.search(item) is not None:
                return False
        elif isinstance(item, dict):
            pending += item
            pending += item.values()
        elif isinstance(item, _COLLECTIONS):
            pending += item
        elif isinstance(item, dt.datetime) and item.tzinfo is not None:
            try:
                check_instant(item)
            except ValueError:
                return False
    return True


def _problems(value: Any, path: str) -> Iterator[str]:
    if isinstance(value, str):
        if (problem := text_problem(value)) is not None:
            yield f"{path or 'value'}: text {problem}"
    elif (
        isinstance(value, dt.datetime) and value.tzinfo is not None
    ):  # naive ones are not instants Herald computes with
        try:
            check_instant(value)
        except ValueError as error:
            yield f"{path or 'value'}: {error}"
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _problems(key, f"{path}.{key}" if path else str(key))
            yield from _problems(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, _COLLECTIONS):
        for index, item in enumerate(value):
            yield from _problems(item, f"{path}[{index}]")
