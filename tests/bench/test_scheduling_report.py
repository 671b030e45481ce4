"""The scheduling phase in the report: its two targets and its rows."""

from __future__ import annotations

from typing import Any

from bench.findings import explain
from bench.report import render, targets


def _latency(p50: float, p99: float) -> dict[str, Any]:
    return {"count": 2000, "mean": p50, "p50": p50, "p95": p99, "p99": p99, "max": p99, "min": 1.0}


def _results(single_p99: float, bulk_rate: float) -> dict[str, Any]:
    cpu = {"machine_capacity_core_seconds": 20.0, "other_processes_core_seconds": 5.0}
    return {
        "scheduling": {
            "single": {
                "count": 2000,
                "seconds": 10.0,
                "per_second": 200.0,
                "concurrency": 32,
                "latency_ms": _latency(30.0, single_p99),
                "scheduler_cpu_ms_per_call": 1.5,
                "cpu": cpu,
            },
            "single_paced": {"count": 1000, "concurrency": 32, "rate_per_second": 100, "latency_ms": _latency(8, 20)},
            "bulk": {
                "requests": {"count": 20, "concurrency": 2, "latency_ms": _latency(400.0, 600.0)},
                "items_per_request": 1000,
                "distributions": 20000,
                "distributions_per_second": bulk_rate,
                "scheduler_cpu_ms_per_distribution": 0.1,
                "cpu": cpu,
            },
        }
    }


def test_the_scheduling_targets_are_judged_only_when_the_phase_ran() -> None:
    verdicts = {t.name: t.met for t in targets(_results(single_p99=49.0, bulk_rate=1999.0))}
    assert verdicts["single create p99 (32 clients)"] is True
    assert verdicts["bulk scheduling"] is False
    assert "bulk scheduling" not in {t.name for t in targets({})}


def test_the_report_shows_single_paced_and_bulk_figures_and_the_machines_load() -> None:
    table = render(_results(single_p99=80.0, bulk_rate=4321.0))
    assert "30.0 / 80.0 / 80.0 / 80.0 ms" in table
    assert "target < 50 ms: MISSED" in table
    assert "single creates paced at 100/s: latency" in table
    assert "4,321" in table
    assert "25% of its CPU" in table
    assert "bulk scheduling: 4,321.0 distributions/s (goal >= 2,000 distributions/s) -> met" in table


def test_a_slow_single_create_is_explained_by_the_closed_loop_and_its_cpu() -> None:
    results = _results(single_p99=224.0, bulk_rate=6000.0)
    results["scheduling"]["single"]["cpu_ms_per_call"] = {"scheduler": 1.5, "postgresql": 1.1, "total": 3.3}
    [finding] = [f["finding"] for f in explain(results) if f["target"] == "single create p99 (32 clients)"]
    assert "wait 160 ms per create on average at 200 creates/s" in finding  # 32 clients / 200 per second
    assert "3.3 ms of CPU" in finding
    assert "p99 20 ms" in finding  # the paced run
    # p99 224 ms against a mean of 160: 1.4 x; 32 clients under 50 ms / 1.4 needs 640 x 1.4 = 896 creates/s
    assert "(p99 1.40 x the mean)" in finding
    assert "needs about 896 creates/s, i.e. about 2.2 ms of CPU per create" in finding
