"""Monthly partitions of ``audit.events``: names, bounds, and which ones retention expires.

A partition holds the rows whose ``occurred_at`` falls in one calendar month (UTC) and is named
``events_yYYYYmMM``. Partitions are created ahead of time by the maintenance loop and, for an event from a month
that has none (a late or far-future event), on demand by the writer, so an insert never fails for want of one.
Retention drops a partition once *every* row in it is older than ``retention_months`` months, so a row is kept at
least that long (and at most a month longer).
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass
from typing import Final

PARENT_TABLE: Final = "events"
_NAME = re.compile(r"^events_y(\d{4,5})m(\d{2})$")


@dataclass(frozen=True, order=True)
class Month:
    """A calendar month in UTC, the unit of partitioning."""

    year: int
    month: int

    @classmethod
    def of(cls, moment: dt.datetime) -> Month:
        utc = moment.astimezone(dt.UTC)
        return cls(utc.year, utc.month)

    @classmethod
    def from_table_name(cls, name: str) -> Month | None:
        """The month of a partition table name, or ``None`` if the name is not one of ours."""
        match = _NAME.match(name)
        return None if match is None else cls(int(match[1]), int(match[2]))

    def plus(self, months: int) -> Month:
        index = self.year * 12 + (self.month - 1) + months
        return Month(index // 12, index % 12 + 1)

    @property
    def table_name(self) -> str:
        return f"{PARENT_TABLE}_y{self.year:04d}m{self.month:02d}"

    @property
    def lower_bound(self) -> str:
        """The first instant of the month, as a PostgreSQL timestamptz literal (a string: year 10000 is allowed)."""
        return f"{self.year:04d}-{self.month:02d}-01 00:00:00+00"

    @property
    def upper_bound(self) -> str:
        """The first instant of the next month (exclusive bound)."""
        return self.plus(1).lower_bound


def months_before(moment: dt.datetime, months: int) -> dt.datetime:
    """``moment`` moved back by calendar months, the day clamped to the target month's length."""
    target = Month.of(moment).plus(-months)
    utc = moment.astimezone(dt.UTC)
    day = min(utc.day, calendar.monthrange(target.year, target.month)[1])
    return utc.replace(year=target.year, month=target.month, day=day)


def wanted(now: dt.datetime, ahead: int) -> list[Month]:
    """The partitions that should exist in advance: the current month and ``ahead`` more."""
    current = Month.of(now)
    return [current.plus(i) for i in range(ahead + 1)]


def expired(partitions: list[Month], now: dt.datetime, retention_months: int) -> list[Month]:
    """The partitions all of whose rows are older than ``retention_months`` months.

    Partition ``m`` ends where ``m + 1`` starts; it is expired when that start is at or before the cutoff, which
    holds exactly when ``m + 1`` is not after the cutoff's month.
    """
    last_expired = Month.of(months_before(now, retention_months)).plus(-1)
    return sorted(month for month in partitions if month <= last_expired)
