"""Parsing of platforms' "try again after" hints into absolute times."""

from __future__ import annotations

import datetime as dt
from email.utils import parsedate_to_datetime


def retry_after(value: str | None, now: dt.datetime) -> dt.datetime | None:
    """Parse an HTTP ``Retry-After`` header: delta-seconds or an HTTP-date (RFC 9110 section 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return now + dt.timedelta(seconds=int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def epoch_seconds(value: str | None) -> dt.datetime | None:
    """Parse an epoch-seconds reset header such as X's ``x-rate-limit-reset``."""
    if not value or not value.strip().isdigit():
        return None
    return dt.datetime.fromtimestamp(int(value.strip()), tz=dt.UTC)
