"""How the benchmark spreads distributions over accounts and content, and reads profiles and results."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from bench.accounts import interleave
from bench.client import Account
from bench.findings import explain
from bench.harness import contents_needed, plan
from bench.phases.burst import add_vacuum
from bench.profile import area, parse_frame, summarise
from bench.report import render, targets
from herald.contracts.platform import Platform

RESULTS = Path(__file__).parents[2] / "bench" / "results"


def test_plan_gives_every_account_its_share_and_never_one_content_twice() -> None:
    pairs = plan(10, 3)
    assert Counter(account for _, account in pairs) == {0: 4, 1: 3, 2: 3}
    assert len(set(pairs)) == len(pairs)
    assert max(content for content, _ in pairs) + 1 == contents_needed(10, 3) == 4


def test_interleave_alternates_platforms() -> None:
    accounts = [Account(f"{p.value}{i}", p, "") for p in Platform for i in range(2)]
    ordered = interleave(accounts)
    assert [a.platform for a in ordered[:3]] == list(Platform)
    assert sorted(a.id for a in ordered) == sorted(a.id for a in accounts)


def test_profile_frames_are_attributed_to_their_library() -> None:
    assert parse_frame("Ledger.claim (publishing/ledger.py:70)") == ("Ledger.claim", "publishing/ledger.py")
    assert area("publishing/ledger.py") == "herald.publishing"
    assert area("asyncpg/connection.py") == "asyncpg"
    assert area("threading.py") == "stdlib.threading"
    assert area("asyncio/runners.py") == "stdlib.asyncio"


def test_profile_summary_counts_components_and_herald_callers() -> None:
    collapsed = (
        "main (kit/runtime.py:1);Ledger.claim (publishing/ledger.py:70);execute (sqlalchemy/engine/base.py:1) 3\n"
        "main (kit/runtime.py:1);run_in_threadpool (fast_depends/utils.py:76) 1\n"
    )
    summary = summarise(collapsed)
    assert summary["samples"] == 4
    assert summary["through_component"]["sqlalchemy"] == 0.75
    assert summary["through_component"]["DI thread hop (fast_depends run_in_threadpool, worker threads)"] == 0.25
    assert summary["by_herald_caller"][0] == {"name": "publishing.ledger.Ledger.claim", "share": 0.75}


def _results(**overrides: Any) -> dict[str, Any]:
    results: dict[str, Any] = {
        "run_id": "test",
        "mode": "quick",
        "burst": {"posts_per_second": 1200.0, "cpu_ms_per_post": {"total": 1.5}},
        "precision": {"lateness_ms": {"count": 10, "p99": 300.0}},
        "audit_ingest": {"events_per_second": 12000.0},
        "memory": {"idle_rss_mib": {"scheduler": 100.0, "sandbox-x": 500.0}},
    }
    return results | overrides


def test_targets_judge_each_goal_and_ignore_sandboxes_for_memory() -> None:
    verdicts = {t.name: t.met for t in targets(_results(precision_fast={"lateness_ms": {"count": 30, "p99": 900.0}}))}
    assert verdicts == {
        "burst throughput": True,
        "burst lateness p99": None,  # not in these results
        "CPU per post (burst, all processes)": True,  # 1.5 ms
        "lateness p99 at 100 posts/s": False,
        "lateness p99 at 300 posts/s": True,
        "audit ingest": True,
        "burst vs the Celery peer": None,  # no peer in these results
        "idle RSS per service": True,
    }


def test_a_disturbed_phase_gets_no_verdict_and_is_said_so() -> None:
    precision = {
        "rate_per_second": 100,
        "seconds": 60,
        "published": 10,
        "statuses": {"published": 10},
        "lateness_ms": {"count": 10, "p50": 20.0, "p95": 30.0, "p99": 300.0, "max": 400.0},
        "claim_lateness": {"p50_ms": 1.0, "p99_ms": 2.0},
        "disturbed": ["PostgreSQL restarted"],
    }
    results = _results(precision=precision, burst=None)
    verdicts = {t.name: t.met for t in targets(results)}
    assert verdicts["lateness p99 at 100 posts/s"] is None
    table = render(results)
    assert "20.0 / 30.0 / 300.0 / 400.0 ms" in table
    assert "DISTURBED precision: PostgreSQL restarted" in table
    assert explain(results) == [{"target": "run", "finding": "disturbed phases (no verdict): precision"}]


def test_the_burst_goals_of_cpu_and_lateness_are_judged_and_a_miss_names_the_costs() -> None:
    burst = {
        "posts_per_second": 410.0,
        "lateness_ms": {"count": 10_000, "p99": 26_000.0},
        "cpu_ms_per_post": {"postgresql": 1.1, "rabbitmq": 0.9, "publisher-x": 0.4, "total": 4.5},
        "cpu": {"machine_capacity_core_seconds": 50.0, "machine_busy_core_seconds": 48.0},
    }
    verdicts = {t.name: t.met for t in targets(_results(burst=burst))}
    assert verdicts["burst throughput"] is True
    assert verdicts["burst lateness p99"] is False
    assert verdicts["CPU per post (burst, all processes)"] is False
    findings = {f["target"]: f["finding"] for f in explain(_results(burst=burst))}
    assert "4.5 ms of CPU per post" in findings["CPU per post (burst, all processes)"]
    assert "postgresql 1.1, rabbitmq 0.9" in findings["burst lateness p99"]


def test_the_burst_shows_how_much_of_the_machine_the_hypervisor_took() -> None:
    results = json.loads((RESULTS / "20261204T210713-partial.json").read_text())
    assert not [line for line in render(results).splitlines() if "(steal)" in line]  # recorded before steal was
    results["burst"]["cpu"] |= {"machine_capacity_core_seconds": 40.0, "steal_core_seconds": 2.0}
    rows = [line for line in render(results).splitlines() if "(steal)" in line]
    assert len(rows) == 1
    assert "5.0%" in rows[0]


def test_a_missed_target_gets_a_finding() -> None:
    findings = explain(_results(audit_ingest={"events_per_second": 900.0, "cpu_ms_per_event": {"audit": 1.2}}))
    assert [f["target"] for f in findings] == ["lateness p99 at 100 posts/s", "audit ingest"]
    assert "1.20 ms of CPU per event" in findings[1]["finding"]


def test_a_paced_run_faster_than_the_burst_is_explained_as_a_backlog() -> None:
    slow = {"rate_per_second": 100, "lateness_ms": {"count": 10, "p50": 100.0, "p99": 300.0, "max": 400.0}}
    fast = {
        "rate_per_second": 300,
        "lateness_ms": {"count": 30, "p50": 9000.0, "p99": 20000.0, "max": 21000.0},
        "claim_lateness": {"p50_ms": 5.0, "p99_ms": 40.0},
    }
    findings = {
        f["target"]: f["finding"]
        for f in explain(_results(burst={"posts_per_second": 250.0}, precision=slow, precision_fast=fast))
    }
    assert "At 300 posts/s the pipeline does not keep up" in findings["lateness p99 at 300 posts/s"]
    assert "p99 40.0 ms of lateness" in findings["lateness p99 at 300 posts/s"]
    assert "(40% of the burst's sustained rate)" in findings["lateness p99 at 100 posts/s"]


def test_the_vacuum_after_a_burst_counts_in_its_cost_per_post() -> None:
    result: dict[str, Any] = {"cpu_ms_per_post": {"postgresql": 0.7, "rabbitmq": 1.1, "total": 5.0}}
    add_vacuum(result, {"seconds": 1.2, "postgresql_cpu_seconds": 0.5, "ms_per_post": 0.05})
    assert result["vacuum_after"]["seconds"] == 1.2
    assert result["cpu_ms_per_post"] == {"postgresql": 0.7, "rabbitmq": 1.1, "postgresql_vacuum": 0.05, "total": 5.05}
    assert list(result["cpu_ms_per_post"])[-1] == "total"
    targets_found = {t.name: t.value for t in targets({"burst": result})}
    assert targets_found["CPU per post (burst, all processes)"] == 5.05
