"""The one clock of Herald's services: what time it is, in UTC, behind a seam tests can replace.

Code that needs the time takes a :class:`Clock` (any callable returning an aware UTC ``datetime``) and defaults to
:func:`utc_now`; a test passes its own (a fixed or a manually advanced time) instead of sleeping.
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol


class Clock(Protocol):
    """Returns the current time as an aware ``datetime`` in UTC."""

    def __call__(self) -> dt.datetime: ...


def utc_now() -> dt.datetime:
    """The system clock, in UTC."""
    return dt.datetime.now(dt.UTC)
