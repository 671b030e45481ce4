"""Small, exact statistics for the benchmark: percentiles, rates and Prometheus histogram quantiles.

Percentiles interpolate linearly between the closest ranks (NumPy's default, "type 7"), so p50 of an even-sized
sample is the mean of the two middle values. Every function refuses empty input rather than inventing a zero.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families


def percentile(values: Sequence[float], p: float) -> float:
    """The ``p``-th percentile (0..100) of ``values`` by linear interpolation between closest ranks."""
    if not values:
        raise ValueError("percentile of an empty sample")
    if not 0 <= p <= 100:
        raise ValueError(f"percentile must be within 0..100, got {p}")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class Summary:
    """The distribution of a sample (seconds, unless said otherwise)."""

    count: int
    mean: float
    p50: float
    p95: float
    p99: float
    max: float
    min: float

    def as_ms(self) -> dict[str, float | int]:
        """The summary in milliseconds (rounded to 0.1 ms), for reports."""
        scaled = {k: round(v * 1000, 1) for k, v in vars(self).items() if k != "count"}
        return {"count": self.count, **scaled}


def summarise(values: Sequence[float]) -> Summary:
    if not values:
        raise ValueError("summary of an empty sample")
    return Summary(
        count=len(values),
        mean=sum(values) / len(values),
        p50=percentile(values, 50),
        p95=percentile(values, 95),
        p99=percentile(values, 99),
        max=max(values),
        min=min(values),
    )


def rate(count: int, seconds: float) -> float:
    """Events per second; refuses a non-positive duration (a rate over no time is meaningless)."""
    if seconds <= 0:
        raise ValueError(f"rate over a non-positive duration ({seconds} s)")
    return count / seconds


Buckets = dict[float, float]
"""A cumulative Prometheus histogram: upper bound (``le``, ``inf`` last) -> observations at or below it."""


def histogram_buckets(exposition: str, metric: str) -> Buckets:
    """The cumulative buckets of histogram ``metric`` (summed over its label sets) in a /metrics text."""
    buckets: Buckets = {}
    for family in text_string_to_metric_families(exposition):
        if family.name != metric:
            continue
        for sample in family.samples:
            if sample.name == f"{metric}_bucket":
                bound = float(sample.labels["le"])
                buckets[bound] = buckets.get(bound, 0.0) + sample.value
    return dict(sorted(buckets.items()))


def bucket_delta(after: Mapping[float, float], before: Mapping[float, float]) -> Buckets:
    """The observations made between two scrapes of one histogram."""
    return {bound: count - before.get(bound, 0.0) for bound, count in sorted(after.items())}


def histogram_quantile(q: float, buckets: Mapping[float, float]) -> float:
    """Estimate quantile ``q`` (0..1) from cumulative buckets the way PromQL's ``histogram_quantile`` does:
    linear interpolation inside the bucket that holds the rank; the lowest bucket starts at 0; a rank in the
    ``+Inf`` bucket answers the highest finite bound (the estimate cannot say more)."""
    if not 0 <= q <= 1:
        raise ValueError(f"quantile must be within 0..1, got {q}")
    ordered = sorted(buckets.items())
    if not ordered or not math.isinf(ordered[-1][0]):
        raise ValueError("a histogram needs its +Inf bucket")
    total = ordered[-1][1]
    if total <= 0:
        raise ValueError("quantile of an empty histogram")
    rank = q * total
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in ordered:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (count - lower_count)
        lower_bound, lower_count = bound, count
    return lower_bound  # pragma: no cover - the +Inf bucket always holds the rank
