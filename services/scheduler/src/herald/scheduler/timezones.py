"""Turning the publish time a caller wrote into one UTC instant, with zoneinfo and explicit DST choices.

A caller gives either ``publish_at``, an ISO-8601 date-time with a UTC offset (``2025-06-01T09:00:00+02:00`` or
``...Z``), or ``local_time``, a wall-clock ISO-8601 date-time without offset, plus ``timezone``, an IANA zone name
(``Europe/Berlin``). ``timezone`` may accompany ``publish_at`` too; it is then only kept for display.

A wall-clock time can be ambiguous (it happens twice when clocks go back) or nonexistent (it is skipped when they
go forward). Both answer 422 unless ``dst_resolution`` says which instant is meant; see
:class:`~herald.scheduler.models.DstResolution`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from herald.kit.validation import check_instant, check_local_instant, iana_zone, text_problem
from herald.scheduler.errors import InvalidField
from herald.scheduler.models import DstResolution


@dataclass(frozen=True)
class RequestedTime:
    """A publish time as the caller wrote it."""

    publish_at: str | None = None
    local_time: str | None = None
    timezone: str | None = None
    dst_resolution: DstResolution = DstResolution.REJECT


@dataclass(frozen=True)
class ResolvedTime:
    """The instant a distribution is due, and what the caller wrote, for display."""

    at: dt.datetime
    """UTC."""
    timezone: str | None
    local_time: str | None
    field: str
    """The request field that carried the time, to name it in later errors (e.g. "too far in the past")."""


def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name`` (exactly as the IANA database spells it), or :class:`InvalidField` on ``timezone``."""
    try:
        return iana_zone(name)
    except ValueError as error:
        raise InvalidField("timezone", str(error)) from None


def resolve(requested: RequestedTime) -> ResolvedTime:
    """The UTC instant ``requested`` means; raises :class:`InvalidField` naming the offending field."""
    if requested.publish_at is not None and requested.local_time is not None:
        raise InvalidField("publish_at", "give either publish_at (with a UTC offset) or local_time with timezone")
    tz = zone(requested.timezone) if requested.timezone is not None else None
    if requested.publish_at is not None:
        return ResolvedTime(_absolute(requested.publish_at), requested.timezone, None, "publish_at")
    if requested.local_time is None:
        raise InvalidField("publish_at", "required: publish_at with a UTC offset, or local_time with timezone")
    if tz is None:
        raise InvalidField("timezone", "required with local_time: an IANA zone name such as 'Europe/Berlin'")
    naive = _parse("local_time", requested.local_time)
    if naive.tzinfo is not None:
        raise InvalidField("local_time", "local_time must not carry a UTC offset; send it as publish_at instead")
    at = localise(naive, tz, requested.dst_resolution)
    return ResolvedTime(at, requested.timezone, naive.isoformat(), "local_time")


def localise(naive: dt.datetime, tz: ZoneInfo, resolution: DstResolution) -> dt.datetime:
    """The UTC instant of wall-clock ``naive`` in ``tz``; DST gaps and overlaps need ``resolution``."""
    try:
        check_local_instant(naive, tz)
    except ValueError as error:
        raise InvalidField("local_time", f"{naive.isoformat()} in {tz.key}: {error}") from None
    first = naive.replace(tzinfo=tz, fold=0)
    second = naive.replace(tzinfo=tz, fold=1)
    candidates = sorted({first.astimezone(dt.UTC), second.astimezone(dt.UTC)})
    if len(candidates) == 1:
        return candidates[0]
    earlier, later = candidates
    if resolution is DstResolution.EARLIER:
        return earlier
    if resolution is DstResolution.LATER:
        return later
    exists = first.astimezone(dt.UTC).astimezone(tz).replace(tzinfo=None) == naive
    what = (
        f"happens twice in {tz.key} (clocks go back)"
        if exists
        else f"does not exist in {tz.key} (clocks go forward over it)"
    )
    raise InvalidField(
        "local_time",
        f"{naive.isoformat()} {what}: set dst_resolution to 'earlier' ({earlier.astimezone(tz).isoformat()})"
        f" or 'later' ({later.astimezone(tz).isoformat()})",
    )


def _absolute(value: str) -> dt.datetime:
    parsed = _parse("publish_at", value)
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise InvalidField(
            "publish_at",
            f"{value!r} has no UTC offset: add one (e.g. '+02:00' or 'Z'), or send local_time with timezone",
        )
    try:
        return check_instant(parsed)
    except ValueError as error:
        raise InvalidField("publish_at", str(error)) from None


def _parse(field: str, value: str) -> dt.datetime:
    if (problem := text_problem(value)) is not None:
        raise InvalidField(field, f"text {problem}")
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        raise InvalidField(field, f"{value!r} is not an ISO-8601 date-time") from None
