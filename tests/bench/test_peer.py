"""The Celery peer phase: where the peer is found, "not run" with a reason when it is absent, its figures, and the
Herald / peer ratio in the targets and findings."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import findings, peer, report
from bench.cli import parse
from bench.stack import ROOT

SUMMARY = {
    "benchmark": "celery_burst",
    "n": 10000,
    "runs_per_config": 3,
    "best": "threads-2x16",
    "results": [
        {
            "config": {"name": "threads-2x16"},
            "all_ok": True,
            "median": {"posts_per_s": 400.0, "wall_s": 25.0, "enqueue_s": 3.0, "lateness_ms.p99": 24000.0},
            "runs": [{"posts_per_s": 390.0, "cpu_pct": {"workers": 120, "total": 200}}, {"posts_per_s": 400.0}],
        }
    ],
}


def test_the_option_wins_over_the_environment_which_wins_over_the_default(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(peer.ENV_VAR, raising=False)
    assert peer.locate(None) == peer.DEFAULT_LOCATION
    assert ROOT.parent / "shared" / "peer-bench" == peer.DEFAULT_LOCATION
    monkeypatch.setenv(peer.ENV_VAR, str(tmp_path / "from-env"))
    assert peer.locate(None) == tmp_path / "from-env"
    assert peer.locate(tmp_path / "option") == tmp_path / "option"


def test_an_absent_peer_is_reported_as_not_run_with_the_reason(tmp_path: Path) -> None:
    nowhere = tmp_path / "nowhere"
    result = peer.run(nowhere, tmp_path, amqp_url="amqp://x", database_url="postgresql://x", posts=10, runs=1)
    assert result["ran"] is False
    assert "celery_burst.py" in result["reason"]
    assert report.peer_ratio({"burst": {"posts_per_second": 500.0}, "peer": result}) is None


def test_the_peers_figures_are_its_best_configurations_median() -> None:
    figures = peer.summarise(SUMMARY)
    assert figures["posts_per_second"] == 400.0
    assert figures["config"] == "threads-2x16"
    assert figures["ok"] is True
    assert figures["lateness_ms"]["p99"] == 24000.0
    assert figures["posts_per_second_each_run"] == [390.0, 400.0]
    assert figures["others_percent_of_machine_each_run"] == [0.4, None]  # 80 of 200: the rest of the machine


def test_the_ratio_is_herald_over_the_peer_and_is_reported_whatever_it_is() -> None:
    results = {"burst": {"posts_per_second": 100.0}, "peer": {"ran": True, **peer.summarise(SUMMARY)}}
    assert report.peer_ratio(results) == 0.25
    target = next(t for t in report.targets(results) if t.name == "burst vs the Celery peer")
    assert (target.value, target.met) == (0.25, False)
    found = findings.explain(results)
    [finding] = [f["finding"] for f in found if f["target"] == "burst vs the Celery peer"]
    assert "400.0 posts/s" in finding
    assert "ms of CPU per post against" not in finding  # no CPU figures in these results: no gap to name
    results["burst"]["cpu_ms_per_post"] = {"rabbitmq": 3.0, "publisher-x": 2.5, "total": 20.0}
    [finding] = [f["finding"] for f in findings.explain(results) if f["target"] == "burst vs the Celery peer"]
    # 2 cores / 400 posts/s = 5.0 ms per post to match the peer
    assert "needs about 5.0 ms of CPU per post against this run's 20.0 (rabbitmq 3.0, publisher-x 2.5 ms)" in finding
    table = report.render({"peer": results["peer"]})  # the peer's section, even without Herald's burst
    assert "Herald / peer burst rate" in table
    assert "400.0" in table


def test_phases_can_be_chosen_and_unknown_ones_are_refused() -> None:
    assert parse(["--phases", "audit_ingest,peer"]).phases == frozenset({"audit_ingest", "peer"})
    with pytest.raises(SystemExit):
        parse(["--phases", "audit_ingest,nonsense"])
