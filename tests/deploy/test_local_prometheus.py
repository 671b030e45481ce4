"""The Prometheus ``make run`` starts when it is installed: its generated configuration is valid and has the jobs
the rules and dashboard expect, and the real binary scrapes a Herald-style ``/metrics`` endpoint and loads the
alert rules."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Gauge

from herald.kit.health import health_router
from herald.operator.local_prometheus import config
from tests.deploy.services import DEPLOY, SERVICES, load_yaml, local_processes
from tests.deploy.test_prometheus import promtool
from tests.support.servers import free_port, serve

RULES = DEPLOY / "prometheus" / "rules"


def local_targets() -> dict[str, str]:
    return {p.name: f"127.0.0.1:{p.port}" for p in local_processes() if p.name in SERVICES}


def test_the_generated_configuration_is_valid_and_matches_the_compose_one(tmp_path: Path) -> None:
    generated = config(local_targets(), RULES, "127.0.0.1:15692")
    (tmp_path / "prometheus.yml").write_text(json.dumps(generated))
    result = promtool("check", "config", "prometheus.yml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "rule files found" in result.stdout + result.stderr

    reference = load_yaml(DEPLOY / "prometheus" / "prometheus.yml")["scrape_configs"]
    shape = [(j["job_name"], j.get("metrics_path", "/metrics"), j.get("params")) for j in reference]
    assert [(j["job_name"], j["metrics_path"], j.get("params")) for j in generated["scrape_configs"]] == shape
    services = {g["labels"]["service"] for g in generated["scrape_configs"][0]["static_configs"]}
    assert services == set(SERVICES)


def test_local_prometheus_scrapes_the_services_and_loads_the_rules(tmp_path: Path) -> None:
    if shutil.which("prometheus") is None:
        pytest.fail("prometheus not found: install Debian's `prometheus` package (.ci/run does)")
    registry = CollectorRegistry()
    Gauge("herald_scheduler_backlog", "test", registry=registry).set(7)
    app = FastAPI()
    app.include_router(health_router({}, registry))
    log = (tmp_path / "prometheus.log").open("wb")  # a pipe nobody reads would fill up and block prometheus
    with serve(app) as url, log:
        port = free_port()  # chosen while the app holds its own port, so the two cannot collide
        proc = subprocess.Popen(
            [
                sys.executable, "-m", "herald.operator.local_prometheus",
                "--target", f"scheduler={url.removeprefix('http://')}",
                "--rules", str(RULES), "--data", str(tmp_path), "--port", str(port),
                "--rabbitmq", "", "--scrape-interval", "1s",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            value = _wait_for_sample(
                port, 'herald_scheduler_backlog{job="herald", service="scheduler"}', proc, tmp_path
            )
            assert value == "7"
            rules = httpx.get(f"http://127.0.0.1:{port}/api/v1/rules", timeout=5).json()
            names = {rule["name"] for group in rules["data"]["groups"] for rule in group["rules"]}
            assert {"HeraldServiceDown", "HeraldParkedMessages"} <= names
        finally:
            proc.send_signal(signal.SIGTERM)  # the exec'd prometheus itself: it stops cleanly
            proc.wait(timeout=15)
    assert proc.returncode == 0


def _wait_for_sample(port: int, query: str, proc: subprocess.Popen[bytes], data: Path) -> str:
    deadline = time.monotonic() + 45  # Prometheus applies new targets every 5 s, then scrapes
    while time.monotonic() < deadline:
        assert proc.poll() is None, (data / "prometheus.log").read_text()
        try:
            response = httpx.get(f"http://127.0.0.1:{port}/api/v1/query", params={"query": query}, timeout=2)
        except httpx.HTTPError:
            response = None
        # While it starts, Prometheus answers 503 with a plain-text body: not ready yet, ask again.
        if response is not None and response.status_code == 200 and response.json()["data"]["result"]:
            return str(response.json()["data"]["result"][0]["value"][1])
        time.sleep(0.2)
    raise AssertionError(f"prometheus never had {query}:\n{(data / 'prometheus.log').read_text()[-3000:]}")
