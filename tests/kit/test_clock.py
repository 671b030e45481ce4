"""The kit's clock: aware UTC, and any callable returning a datetime can stand in for it."""

import datetime as dt

import pytest

from herald.kit.clock import Clock, utc_now

pytestmark = pytest.mark.fast


def test_the_system_clock_is_aware_utc() -> None:
    now = utc_now()
    assert now.tzinfo is dt.UTC
    assert abs((now - dt.datetime.now(dt.UTC)).total_seconds()) < 60


def test_a_fixed_clock_stands_in() -> None:
    fixed = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)

    def frozen() -> dt.datetime:
        return fixed

    clock: Clock = frozen
    assert clock() == fixed
