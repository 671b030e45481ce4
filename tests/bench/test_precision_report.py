"""The two precision paces in the report (each against its own target) and how a batch is seeded in bulk."""

from __future__ import annotations

from typing import Any

from bench.harness import chunks
from bench.report import render, targets


def _precision(rate: int, p99: float, audited_before_release: bool = True) -> dict[str, Any]:
    late = {"count": rate * 10, "mean": p99 / 2, "p50": p99 / 2, "p95": p99 - 1, "p99": p99, "max": p99 + 1, "min": 1.0}
    return {
        "rate_per_second": rate,
        "seconds": 10,
        "release": {
            "approved_before_due": True,
            "overrun_s": -5.0,
            "scheduled_events_audited_before_release": audited_before_release,
        },
        "published": rate * 10,
        "statuses": {"published": rate * 10},
        "lateness_ms": late,
        "claim_lateness": {"claimed": rate * 10, "p50_ms": 5.0, "p99_ms": 20.0},
    }


def test_each_pace_is_judged_against_its_own_target_in_the_verdicts_and_the_table() -> None:
    results = {"precision": _precision(100, 300.0), "precision_fast": _precision(300, 900.0)}
    verdicts = {t.name: (t.goal, t.value, t.met) for t in targets(results)}
    assert verdicts["lateness p99 at 100 posts/s"] == ("<= 250 ms", 300.0, False)
    assert verdicts["lateness p99 at 300 posts/s"] == ("<= 1,000 ms", 900.0, True)
    table = render(results)
    assert "precision: 300 posts/s, distinct due times, for 10 s" in table
    assert "target <= 1,000 ms: met" in table
    assert "target <= 250 ms: MISSED" in table
    assert "lateness p99 at 300 posts/s: 900.0 ms (goal <= 1,000 ms) -> met" in table


def test_the_fast_pace_has_no_verdict_when_it_did_not_run() -> None:
    verdicts = {t.name: t.met for t in targets({"precision": _precision(100, 200.0)})}
    assert verdicts["lateness p99 at 100 posts/s"] is True
    assert verdicts["lateness p99 at 300 posts/s"] is None


def test_a_release_before_the_audit_log_caught_up_with_the_seeding_is_flagged() -> None:
    assert "audit still ingesting the seeding" not in render({"precision_fast": _precision(300, 900.0)})
    table = render({"precision_fast": _precision(300, 900.0, audited_before_release=False)})
    assert "WARNING: audit still ingesting the seeding" in table


def test_bulk_requests_carry_every_item_once_in_order() -> None:
    items = list(range(2_500))
    split = chunks(items, 1_000)
    assert [len(c) for c in split] == [1_000, 1_000, 500]
    assert [i for c in split for i in c] == items
    assert chunks([], 1_000) == []
