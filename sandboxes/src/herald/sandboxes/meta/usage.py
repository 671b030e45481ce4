"""Meta's usage headers and the per-Page Business Use Case (BUC) call budget (https://developers.facebook.com/docs/graph-api/overview/rate-limiting).

Values are *percent of the limit*: ``X-App-Usage: {"call_count":28,"total_time":25,"total_cputime":25}`` for
app/user tokens; ``X-Business-Use-Case-Usage: {"<page id>":[{"type":"pages","call_count":..,
"estimated_time_to_regain_access":<minutes>}]}`` for Page tokens. The budget here is a fixed 24 h window from a
Page's first call (Meta's is rolling): close enough to exercise throttling, and one dict lookup per call.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass

WINDOW = dt.timedelta(hours=24)
NOMINAL_BUDGET = 4_800  # 4,800 x engaged users; what the percentage is computed against when unlimited


@dataclass
class _Window:
    start: dt.datetime
    calls: int = 0


@dataclass(frozen=True)
class Usage:
    percent: int
    regain_minutes: int  # 0 unless over budget


class UsageMeter:
    """Counts Page-token calls per Page."""

    def __init__(self, calls_per_day: int | None) -> None:
        self._limit = calls_per_day
        self._windows: dict[str, _Window] = {}

    def record(self, page_id: str, now: dt.datetime) -> Usage:
        window = self._windows.get(page_id)
        if window is None or now - window.start >= WINDOW:
            window = self._windows[page_id] = _Window(start=now)
        window.calls += 1
        budget = self._limit or NOMINAL_BUDGET
        percent = min(100, window.calls * 100 // budget)
        if self._limit is not None and window.calls > self._limit:
            return Usage(100, minutes_until(window.start + WINDOW, now))
        return Usage(percent, 0)


def minutes_until(moment: dt.datetime, now: dt.datetime) -> int:
    """Whole minutes, rounded up, so a client adding them to its clock does not retry early."""
    return max(1, math.ceil((moment - now).total_seconds() / 60))


def buc_header(page_id: str, usage: Usage) -> str:
    entry = {
        "type": "pages",
        "call_count": usage.percent,
        "total_cputime": usage.percent // 2,
        "total_time": usage.percent // 2,
        "estimated_time_to_regain_access": usage.regain_minutes,
    }
    return json.dumps({page_id: [entry]}, separators=(",", ":"))


def app_usage_header(percent: int) -> str:
    return json.dumps({"call_count": percent, "total_time": percent // 2, "total_cputime": percent // 2})
