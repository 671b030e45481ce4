"""X's rate limiting: fixed windows per user (or per app) and the ``x-rate-limit-*`` headers on every answer."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from herald.sandboxes.x.config import RateLimitRule


@dataclass(frozen=True)
class Quota:
    """One window's state after a request: what goes in the headers, and whether the request is refused."""

    limit: int
    remaining: int
    reset: int  # epoch seconds
    exceeded: bool

    def headers(self, prefix: str = "x-rate-limit") -> dict[str, str]:
        return {
            f"{prefix}-limit": str(self.limit),
            f"{prefix}-remaining": str(self.remaining),
            f"{prefix}-reset": str(self.reset),
        }


@dataclass
class _Window:
    reset: float
    used: int


class RateLimiter:
    """Counts requests per ``(bucket, key)``. Plain dict lookups; the sandbox serves one event loop."""

    def __init__(self, rules: Mapping[str, RateLimitRule], *, enforce: bool) -> None:
        self.rules = dict(rules)
        self.enforce = enforce
        self._windows: dict[tuple[str, str], _Window] = {}

    def take(self, bucket: str, key: str, now: float) -> Quota:
        """Count one request (unless the window is spent and limits are enforced)."""
        rule = self.rules[bucket]
        window = self._windows.get((bucket, key))
        if window is None or window.reset <= now:
            window = self._windows[(bucket, key)] = _Window(reset=now + rule.window_seconds, used=0)
        exceeded = self.enforce and window.used >= rule.limit
        if not exceeded:
            window.used += 1
        return Quota(rule.limit, max(0, rule.limit - window.used), math.ceil(window.reset), exceeded)

    def peek(self, bucket: str, key: str, now: float) -> Quota:
        """The window's state without counting a request."""
        rule = self.rules[bucket]
        window = self._windows.get((bucket, key))
        if window is None or window.reset <= now:
            return Quota(rule.limit, rule.limit, math.ceil(now + rule.window_seconds), False)
        return Quota(rule.limit, max(0, rule.limit - window.used), math.ceil(window.reset), False)

    def clear(self) -> None:
        self._windows.clear()
