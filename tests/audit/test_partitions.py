"""Month arithmetic, partition names and the retention rule (pure functions)."""

import datetime as dt

from herald.audit.partitions import Month, expired, months_before, wanted


def _at(year: int, month: int, day: int = 1, hour: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, tzinfo=dt.UTC)


def test_month_of_uses_utc_and_names_the_table() -> None:
    berlin_new_year = dt.datetime(2025, 1, 1, 0, 30, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    assert Month.of(berlin_new_year) == Month(2024, 12)
    assert Month(2024, 12).table_name == "events_y2024m12"
    assert Month.from_table_name("events_y2024m12") == Month(2024, 12)
    assert Month.from_table_name("events_default") is None


def test_bounds_roll_over_years_even_at_the_end_of_the_calendar() -> None:
    assert Month(2024, 12).lower_bound == "2024-12-01 00:00:00+00"
    assert Month(2024, 12).upper_bound == "2025-01-01 00:00:00+00"
    assert Month(9999, 12).upper_bound == "10000-01-01 00:00:00+00"  # beyond Python's datetime, fine for SQL
    assert Month(2025, 1).plus(-13) == Month(2023, 12)


def test_wanted_is_the_current_month_and_the_ones_ahead() -> None:
    assert wanted(_at(2025, 11, 20), 3) == [Month(2025, 11), Month(2025, 12), Month(2026, 1), Month(2026, 2)]
    assert wanted(_at(2025, 11, 20), 0) == [Month(2025, 11)]


def test_months_before_clamps_the_day() -> None:
    assert months_before(_at(2025, 3, 31, 12), 1) == _at(2025, 2, 28, 12)
    assert months_before(_at(2025, 3, 15), 14) == _at(2024, 1, 15)


def test_retention_drops_only_partitions_whose_every_row_is_older_than_it() -> None:
    months = [Month(2025, m) for m in range(1, 13)]
    # On 15 June with 2 months' retention the cutoff is 15 April: March ended before it, April did not.
    assert expired(months, _at(2025, 6, 15), 2) == [Month(2025, 1), Month(2025, 2), Month(2025, 3)]
    # At the first instant of a month, the month before the cutoff month has just fully expired.
    assert expired(months, _at(2025, 6, 1), 2) == [Month(2025, 1), Month(2025, 2), Month(2025, 3)]
    assert expired(months, _at(2025, 6, 15), 24) == []
