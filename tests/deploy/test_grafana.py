"""The Grafana dashboard: provisioned from the repository, wired to the provisioned datasource, every query valid
PromQL (checked by promtool), and a section for each question the dashboard must answer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from tests.deploy.services import DEPLOY, load_yaml
from tests.deploy.test_prometheus import promtool

GRAFANA = DEPLOY / "grafana"
DASHBOARD: dict[str, Any] = json.loads((GRAFANA / "dashboards" / "herald.json").read_text())
QUESTIONS = ("on time", "fail", "waiting", "tokens", "media")


def panels() -> list[dict[str, Any]]:
    return [panel for panel in DASHBOARD["panels"] if panel["type"] != "row"]


def test_the_dashboard_uses_the_provisioned_datasource() -> None:
    (datasource,) = load_yaml(GRAFANA / "provisioning" / "datasources" / "prometheus.yml")["datasources"]
    assert datasource["type"] == "prometheus"
    queried = [panel for panel in panels() if panel.get("targets")]
    assert len(queried) >= 15
    for panel in queried:
        assert panel["datasource"] == {"type": "prometheus", "uid": datasource["uid"]}, panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == datasource["uid"]
            assert target["expr"].strip()


def test_panels_have_unique_ids_and_do_not_overlap() -> None:
    ids = [panel["id"] for panel in DASHBOARD["panels"]]
    assert len(ids) == len(set(ids))
    cells: set[tuple[int, int]] = set()
    for panel in DASHBOARD["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        mine = {
            (x, y) for x in range(grid["x"], grid["x"] + grid["w"]) for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not mine & cells, panel["title"]
        cells |= mine


def test_each_question_has_its_section() -> None:
    rows = [panel["title"].lower() for panel in DASHBOARD["panels"] if panel["type"] == "row"]
    for question in QUESTIONS:
        assert any(question in row for row in rows), question
    assert DASHBOARD["uid"] == "herald-overview"


def test_every_query_is_valid_promql(tmp_path: Path) -> None:
    # promtool parses PromQL when it checks rules: every query becomes a recording rule. Grafana's
    # $__rate_interval becomes a fixed range.
    rules = [
        {"record": f"dashboard:query_{i}", "expr": target["expr"].replace("$__rate_interval", "5m")}
        for i, target in enumerate(t for panel in panels() for t in panel.get("targets", []))
    ]
    (tmp_path / "queries.yml").write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = promtool("check", "rules", "queries.yml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(rules)} rules found" in result.stdout + result.stderr


def test_a_broken_query_would_be_caught(tmp_path: Path) -> None:
    rules = [{"record": "dashboard:broken", "expr": "sum by (platform (rate(x[5m]))"}]
    (tmp_path / "queries.yml").write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    assert promtool("check", "rules", "queries.yml", cwd=tmp_path).returncode != 0


def test_the_provider_loads_the_dashboard_directory() -> None:
    (provider,) = load_yaml(GRAFANA / "provisioning" / "dashboards" / "herald.yml")["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"
