"""Prometheus files: promtool accepts the configurations and the rules, the rule unit tests pass, and the scrape
targets are the services' real names and ports. promtool is required: without it these tests fail (CI installs
Debian's ``prometheus`` package, which ships it)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.deploy.services import DEPLOY, ROOT, SERVICES, load_yaml

PROMETHEUS = DEPLOY / "prometheus"
CONFIGS = [PROMETHEUS / "prometheus.yml", PROMETHEUS / "kubernetes-scrape.yml"]
RULES = PROMETHEUS / "rules" / "herald.rules.yml"
RULE_TESTS = sorted((PROMETHEUS / "tests").glob("*.yml"))
ALERTS_REQUIRED = {
    "HeraldServiceDown",
    "HeraldParkedMessages",
    "HeraldPublishFailureRatioHigh",
    "HeraldPublishLate",
    "HeraldTokenRefreshFailing",
    "HeraldAccountsNeedReauth",
    "HeraldSchedulerBacklogGrowing",
    "HeraldAuditLagging",
}


def promtool(*args: str, cwd: Path = PROMETHEUS) -> subprocess.CompletedProcess[str]:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool not found: install Debian's `prometheus` package (.ci/run does)")
    return subprocess.run([path, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.name)
def test_promtool_accepts_the_configuration(config: Path) -> None:
    result = promtool("check", "config", config.name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


def test_promtool_accepts_the_rules() -> None:
    result = promtool("check", "rules", str(RULES.relative_to(PROMETHEUS)))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_alert_rules_pass_their_unit_tests() -> None:
    assert RULE_TESTS
    result = promtool("test", "rules", *(str(t.relative_to(PROMETHEUS)) for t in RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_rejects_a_failing_rule_test(tmp_path: Path) -> None:
    # The unit tests can fail: an alert expected where the series cannot fire it is reported.
    (tmp_path / "rules").mkdir()
    shutil.copy(RULES, tmp_path / "rules" / RULES.name)
    (tmp_path / "wrong.yml").write_text(
        f"""
rule_files: [rules/{RULES.name}]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'up{{job="herald", service="audit", instance="a"}}'
        values: "1x10"
    alert_rule_test:
      - eval_time: 5m
        alertname: HeraldServiceDown
        exp_alerts:
          - exp_labels: {{severity: critical, job: herald, service: audit, instance: a}}
"""
    )
    result = promtool("test", "rules", "wrong.yml", cwd=tmp_path)
    assert result.returncode != 0


def test_every_required_alert_exists_with_severity_and_a_runbook_section() -> None:
    rules = [rule for group in load_yaml(RULES)["groups"] for rule in group["rules"] if "alert" in rule]
    names = {rule["alert"] for rule in rules}
    assert names >= ALERTS_REQUIRED
    guide = (ROOT / "docs" / "operations.md").read_text()
    anchors = {_anchor(heading) for heading in re.findall(r"^#+ (.+)$", guide, re.MULTILINE)}
    for rule in rules:
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}, rule["alert"]
        runbook = rule["annotations"]["runbook"]
        assert runbook.startswith("docs/operations.md#"), rule["alert"]
        assert runbook.split("#", 1)[1] in anchors, f"{rule['alert']}: no section for {runbook}"


def _anchor(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    return re.sub(r"[^a-z0-9 _-]", "", heading.strip().lower()).replace(" ", "-")


def test_every_service_is_scraped_at_its_port_with_its_name() -> None:
    config = load_yaml(PROMETHEUS / "prometheus.yml")
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    targets = {group["labels"]["service"]: group["targets"] for group in jobs["herald"]["static_configs"]}
    assert targets == {name: [f"{name}:{service.port}"] for name, service in SERVICES.items()}
    assert jobs["rabbitmq-queues"]["metrics_path"] == "/metrics/detailed"
    assert "queue_coarse_metrics" in jobs["rabbitmq-queues"]["params"]["family"]


def test_the_kubernetes_scrape_config_finds_every_service_by_its_headless_service() -> None:
    config = load_yaml(PROMETHEUS / "kubernetes-scrape.yml")
    job = next(job for job in config["scrape_configs"] if job["job_name"] == "herald")
    found = {(sd["names"][0], sd["port"]) for sd in job["dns_sd_configs"]}
    assert found == {(f"{name}-pods.herald.svc.cluster.local", s.port) for name, s in SERVICES.items()}
    relabel = job["relabel_configs"][0]
    assert re.fullmatch(relabel["regex"], "publisher-x-pods.herald.svc.cluster.local")
    assert re.sub(relabel["regex"], r"\1", "publisher-x-pods.herald.svc.cluster.local") == "publisher-x"
