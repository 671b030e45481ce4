"""The benchmark's statistics: percentiles, summaries, rates and Prometheus histogram quantiles."""

from __future__ import annotations

import math

import pytest

from bench.stats import bucket_delta, histogram_buckets, histogram_quantile, percentile, rate, summarise


def test_percentile_interpolates_between_closest_ranks() -> None:
    values = [4.0, 1.0, 3.0, 2.0]  # unsorted on purpose
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 4.0
    assert percentile(values, 50) == 2.5
    assert percentile(values, 25) == pytest.approx(1.75)


def test_percentile_of_one_value_is_that_value() -> None:
    assert percentile([7.0], 99) == 7.0


@pytest.mark.parametrize("p", [-1, 101])
def test_percentile_refuses_out_of_range(p: float) -> None:
    with pytest.raises(ValueError, match=r"within 0\.\.100"):
        percentile([1.0], p)


def test_percentile_refuses_an_empty_sample() -> None:
    with pytest.raises(ValueError, match="empty"):
        percentile([], 50)


def test_p99_of_a_hundred_values_sits_between_the_top_two() -> None:
    values = [float(i) for i in range(1, 101)]
    assert percentile(values, 99) == pytest.approx(99.01)


def test_summary_in_milliseconds() -> None:
    summary = summarise([0.010, 0.020, 0.030, 0.040])
    assert summary.count == 4
    assert summary.mean == pytest.approx(0.025)
    ms = summary.as_ms()
    assert ms["p50"] == 25.0
    assert ms["max"] == 40.0
    assert ms["min"] == 10.0
    assert ms["count"] == 4


def test_rate_refuses_no_time() -> None:
    assert rate(500, 2.0) == 250.0
    with pytest.raises(ValueError, match="non-positive"):
        rate(1, 0.0)


EXPOSITION = """\
# HELP herald_due_loop_lateness_seconds Claim time minus due time.
# TYPE herald_due_loop_lateness_seconds histogram
herald_due_loop_lateness_seconds_bucket{le="0.01"} 10.0
herald_due_loop_lateness_seconds_bucket{le="0.1"} 90.0
herald_due_loop_lateness_seconds_bucket{le="1.0"} 100.0
herald_due_loop_lateness_seconds_bucket{le="+Inf"} 100.0
herald_due_loop_lateness_seconds_count 100.0
herald_due_loop_lateness_seconds_sum 3.5
# HELP other_seconds Something else.
# TYPE other_seconds histogram
other_seconds_bucket{le="1.0"} 5.0
other_seconds_bucket{le="+Inf"} 5.0
other_seconds_count 5.0
other_seconds_sum 1.0
"""


def test_histogram_buckets_reads_only_the_named_metric() -> None:
    buckets = histogram_buckets(EXPOSITION, "herald_due_loop_lateness_seconds")
    assert buckets == {0.01: 10.0, 0.1: 90.0, 1.0: 100.0, math.inf: 100.0}


def test_histogram_buckets_sums_label_sets() -> None:
    text = (
        "# TYPE m histogram\n"
        'm_bucket{platform="x",le="1.0"} 1.0\nm_bucket{platform="x",le="+Inf"} 2.0\nm_count{platform="x"} 2.0\n'
        'm_sum{platform="x"} 1.0\n'
        'm_bucket{platform="meta",le="1.0"} 3.0\nm_bucket{platform="meta",le="+Inf"} 3.0\n'
        'm_count{platform="meta"} 3.0\nm_sum{platform="meta"} 1.0\n'
    )
    assert histogram_buckets(text, "m") == {1.0: 4.0, math.inf: 5.0}


def test_histogram_quantile_interpolates_like_promql() -> None:
    buckets = {0.01: 10.0, 0.1: 90.0, 1.0: 100.0, math.inf: 100.0}
    assert histogram_quantile(0.05, buckets) == pytest.approx(0.005)  # rank 5 in the first bucket, from 0
    assert histogram_quantile(0.5, buckets) == pytest.approx(0.01 + 0.09 * 40 / 80)
    assert histogram_quantile(0.95, buckets) == pytest.approx(0.1 + 0.9 * 5 / 10)


def test_histogram_quantile_in_the_inf_bucket_answers_the_highest_bound() -> None:
    buckets = {0.1: 1.0, 1.0: 2.0, math.inf: 10.0}
    assert histogram_quantile(0.99, buckets) == 1.0


def test_histogram_quantile_refuses_empty_or_unbounded_histograms() -> None:
    with pytest.raises(ValueError, match="empty"):
        histogram_quantile(0.5, {1.0: 0.0, math.inf: 0.0})
    with pytest.raises(ValueError, match=r"\+Inf"):
        histogram_quantile(0.5, {1.0: 3.0})


def test_bucket_delta_is_what_happened_between_two_scrapes() -> None:
    before = {0.1: 5.0, math.inf: 6.0}
    after = {0.1: 15.0, math.inf: 26.0}
    assert bucket_delta(after, before) == {0.1: 10.0, math.inf: 20.0}
    assert bucket_delta(after, {}) == after
