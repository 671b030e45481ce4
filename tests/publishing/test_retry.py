"""Tier choice: exponential, rounded up to a tier, never before the reset hint, capped at four hours."""

import datetime as dt

import pytest

from herald.publishing.retry import (
    DEFAULT_TIERS_MS,
    backoff_ms,
    beyond_tiers,
    choose_tier,
    plan_hold,
    plan_operator_recheck,
    plan_retry,
)

pytestmark = pytest.mark.fast

NOW = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)
MIN = 60_000


@pytest.mark.parametrize(
    ("attempt", "expected_minutes"), [(1, 5), (2, 10), (3, 20), (4, 40), (5, 80), (6, 160), (7, 240), (12, 240)]
)
def test_default_schedule_doubles_from_five_minutes_and_caps_at_four_hours(attempt: int, expected_minutes: int) -> None:
    plan = plan_retry(attempt=attempt, base_delay_seconds=300, tiers_ms=DEFAULT_TIERS_MS, now=NOW)
    assert plan.tier_ms == expected_minutes * MIN
    assert plan.next_attempt_at == NOW + dt.timedelta(minutes=expected_minutes)


def test_a_delay_between_tiers_rounds_up() -> None:
    assert backoff_ms(2, 7 * 60) == 14 * MIN
    assert plan_retry(attempt=2, base_delay_seconds=7 * 60, tiers_ms=DEFAULT_TIERS_MS, now=NOW).tier_ms == 20 * MIN


def test_never_earlier_than_the_platforms_reset_hint() -> None:
    hint = NOW + dt.timedelta(minutes=33)
    plan = plan_retry(attempt=1, base_delay_seconds=300, tiers_ms=DEFAULT_TIERS_MS, now=NOW, not_before=hint)
    assert plan.tier_ms == 40 * MIN
    assert plan.next_attempt_at >= hint


def test_a_reset_hint_beyond_the_cap_is_capped() -> None:
    hint = NOW + dt.timedelta(hours=9)
    plan = plan_retry(attempt=1, base_delay_seconds=300, tiers_ms=DEFAULT_TIERS_MS, now=NOW, not_before=hint)
    assert plan.tier_ms == 240 * MIN


def test_an_earlier_hint_does_not_shorten_the_backoff() -> None:
    plan = plan_retry(
        attempt=3, base_delay_seconds=300, tiers_ms=DEFAULT_TIERS_MS, now=NOW, not_before=NOW + dt.timedelta(seconds=5)
    )
    assert plan.tier_ms == 20 * MIN


def test_hold_waits_for_the_smallest_tier_covering_the_limit() -> None:
    assert plan_hold((100, 200, 400), NOW, NOW + dt.timedelta(milliseconds=150)).tier_ms == 200
    assert plan_hold((100, 200, 400), NOW, NOW - dt.timedelta(seconds=1)).tier_ms == 100


def test_choose_tier_accepts_unordered_configuration() -> None:
    assert choose_tier([400, 100, 200], 150) == 200
    assert plan_retry(attempt=1, base_delay_seconds=1, tiers_ms=(400, 100), now=NOW).delay_seconds == 1


def test_a_reset_beyond_the_longest_tier_is_a_hold_not_a_retry() -> None:
    assert not beyond_tiers(DEFAULT_TIERS_MS, NOW, None)
    assert not beyond_tiers(DEFAULT_TIERS_MS, NOW, NOW + dt.timedelta(hours=4))
    assert beyond_tiers(DEFAULT_TIERS_MS, NOW, NOW + dt.timedelta(hours=4, seconds=1))
    assert beyond_tiers(DEFAULT_TIERS_MS, NOW, dt.datetime(2026, 12, 1, tzinfo=dt.UTC))  # X's monthly cap
    # Short tiers (a test setup) do not turn a rate-limit window into a cap; longer tiers raise the threshold.
    assert not beyond_tiers((100, 200, 400), NOW, NOW + dt.timedelta(minutes=15))
    assert beyond_tiers((100, 200, 400), NOW, NOW + dt.timedelta(hours=5))
    assert not beyond_tiers((*DEFAULT_TIERS_MS, 8 * 60 * MIN), NOW, NOW + dt.timedelta(hours=5))


def test_an_operator_error_is_rechecked_after_a_quarter_hour_tier() -> None:
    assert plan_operator_recheck(DEFAULT_TIERS_MS, NOW).tier_ms == 20 * MIN
    assert plan_operator_recheck((100, 200, 400), NOW).tier_ms == 400
