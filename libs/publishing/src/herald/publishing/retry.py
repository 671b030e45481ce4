"""Choosing when to try again: exponential back-off rounded up to a TTL tier, never before the platform's hint.

The delay after failed attempt ``n`` is ``base_delay * 2**(n-1)`` (the original system's schedule: 5, 10, 20, 40
minutes...), raised to the platform's reset hint if that is later, then rounded *up* to the smallest configured tier
that is at least that long, and capped at the longest tier (4 hours by default). Tiers exist because RabbitMQ only
expires messages at the head of a queue: one queue per delay keeps FIFO order equal to expiry order.
"""

from __future__ import annotations

import bisect
import datetime as dt
import uuid
from dataclasses import dataclass

DEFAULT_TIERS_MS: tuple[int, ...] = (
    5 * 60_000,
    10 * 60_000,
    20 * 60_000,
    40 * 60_000,
    80 * 60_000,
    160 * 60_000,
    240 * 60_000,
)


@dataclass(frozen=True)
class RetryPlan:
    tier_ms: int
    next_attempt_at: dt.datetime

    @property
    def delay_seconds(self) -> int:
        return -(-self.tier_ms // 1000)  # ceiling: the event says "not before"


def backoff_ms(attempt: int, base_delay_seconds: float) -> int:
    """The exponential delay after failed attempt ``attempt`` (1-based)."""
    return int(base_delay_seconds * 1000 * 2 ** max(attempt - 1, 0))


def choose_tier(
    tiers_ms: tuple[int, ...] | list[int],
    wanted_ms: int,
) -> int:
    """The smallest tier at least ``wanted_ms`` long, or the longest tier (the cap)."""
    ordered = sorted(tiers_ms)
    index = bisect.bisect_left(ordered, wanted_ms)
    return ordered[min(index, len(ordered) - 1)]


def plan_retry(
    *,
    attempt: int,
    base_delay_seconds: float,
    tiers_ms: tuple[int, ...] | list[int],
    now: dt.datetime,
    not_before: dt.datetime | None = None,
) -> RetryPlan:
    """When (and through which tier) failed attempt ``attempt`` is tried again."""
    wanted = backoff_ms(attempt, base_delay_seconds)
    if not_before is not None:
        wanted = max(wanted, int((not_before - now).total_seconds() * 1000))
    tier = choose_tier(tiers_ms, wanted)
    return RetryPlan(tier_ms=tier, next_attempt_at=now + dt.timedelta(milliseconds=tier))


def plan_hold(tiers_ms: tuple[int, ...] | list[int], now: dt.datetime, until: dt.datetime) -> RetryPlan:
    """Wait for an account's rate limit to lift (no attempt is consumed)."""
    tier = choose_tier(tiers_ms, max(int((until - now).total_seconds() * 1000), 0))
    return RetryPlan(tier_ms=tier, next_attempt_at=now + dt.timedelta(milliseconds=tier))


OPERATOR_RECHECK = dt.timedelta(minutes=15)
"""How often a post held for an operator error (Herald's own configuration) tries again, to notice the fix."""


CAP_THRESHOLD = dt.timedelta(hours=4)
"""A reset at least this far away is a usage cap, whatever the tiers (the default longest tier): rate-limit windows
(X's 15 minutes, Meta's regain estimates) stay ordinary retries even with the short tiers of a test setup."""


def beyond_tiers(tiers_ms: tuple[int, ...] | list[int], now: dt.datetime, until: dt.datetime | None) -> bool:
    """True when ``until`` is further away than the longest tier (and than :data:`CAP_THRESHOLD`): a usage cap,
    not a rate limit.

    Such a wait must not use up attempts (it would exhaust them long before the cap resets); the account is held
    until then and an operator is alerted instead.
    """
    threshold = max(dt.timedelta(milliseconds=max(tiers_ms)), CAP_THRESHOLD)
    return until is not None and (until - now) > threshold


def plan_operator_recheck(tiers_ms: tuple[int, ...] | list[int], now: dt.datetime) -> RetryPlan:
    """When a post held for an operator error is tried again (no attempt is consumed)."""
    return plan_hold(tiers_ms, now, now + OPERATOR_RECHECK)


_APP_HOLD_NAMESPACE = uuid.UUID("5b0c3f0e-6f7a-4f43-9d39-4f1b8f3c2a61")


def app_hold_id(platform: str) -> uuid.UUID:
    """The hold key standing for Herald's whole app on ``platform`` (a product-wide usage cap): every account
    checks it besides its own."""
    return uuid.uuid5(_APP_HOLD_NAMESPACE, f"app:{platform}")
