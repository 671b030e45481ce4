"""The Prometheus ``make run`` starts when it is installed: its generated configuration is valid and has the jobs
the rules and dashboard expect, and the real binary scrapes a Herald-style ``/metrics`` endpoint and loads the
alert rules."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Gauge

from herald.kit.health import health_router
from herald.operator.local_prometheus import config
from tests.deploy.services import DEPLOY, SERVICES, load_yaml, local_processes
from tests.deploy.test_prometheus import promtool
from tests.support.eventually import eventually
from tests.support.servers import closed_port, serve

RULES = DEPLOY / "prometheus" / "rules"
COLLISION_ATTEMPTS = 3


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


async def test_local_prometheus_scrapes_the_services_and_loads_the_rules(tmp_path: Path) -> None:
    if shutil.which("prometheus") is None:
        pytest.fail("prometheus not found: install Debian's `prometheus` package (.ci/run does)")
    registry = CollectorRegistry()
    Gauge("herald_scheduler_backlog", "test", registry=registry).set(7)
    app = FastAPI()
    app.include_router(health_router({}, registry))
    with serve(app) as url:
        proc, port = await _start_prometheus(url.removeprefix("http://"), tmp_path)
        try:
            value = await _wait_for_sample(
                port, 'herald_scheduler_backlog{job="herald", service="scheduler"}', proc, tmp_path
            )
            assert value == "7"
            async with httpx.AsyncClient(timeout=5) as client:
                rules = (await client.get(f"http://127.0.0.1:{port}/api/v1/rules")).json()
            names = {rule["name"] for group in rules["data"]["groups"] for rule in group["rules"]}
            assert {"HeraldServiceDown", "HeraldParkedMessages"} <= names
        finally:
            proc.send_signal(signal.SIGTERM)  # the exec'd prometheus itself: it stops cleanly
            proc.wait(timeout=15)
    assert proc.returncode == 0


class _PortTaken(Exception):
    pass


async def _start_prometheus(target: str, data: Path) -> tuple[subprocess.Popen[bytes], int]:
    """Prometheus binds its port itself (it cannot be handed a socket), so a port the kernel picked may be taken
    before it binds it: then it exits saying so, and it is started again on another port."""
    for _ in range(COLLISION_ATTEMPTS):
        with closed_port() as port:
            pass  # free now; Prometheus binds it at once
        proc = await _try_prometheus(target, data, port)
        if proc is not None:
            return proc, port
    raise AssertionError(f"prometheus found its port taken {COLLISION_ATTEMPTS} times")


async def _try_prometheus(target: str, data: Path, port: int) -> subprocess.Popen[bytes] | None:
    """Prometheus serving on ``port``, or None if the port was taken."""
    log_path = data / "prometheus.log"
    with log_path.open("ab") as log:  # a pipe nobody reads would fill up and block prometheus
        proc = subprocess.Popen(
            [
                sys.executable, "-m", "herald.operator.local_prometheus",
                "--target", f"scheduler={target}",
                "--rules", str(RULES), "--data", str(data), "--port", str(port),
                "--rabbitmq", "", "--scrape-interval", "1s",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip

    async def listening() -> bool:
        if proc.poll() is not None:
            if "address already in use" in log_path.read_text(errors="replace"):
                raise _PortTaken
            raise RuntimeError(f"prometheus exited:\n{log_path.read_text()[-3000:]}")
        async with httpx.AsyncClient(timeout=2) as client:
            return (await client.get(f"http://127.0.0.1:{port}/-/healthy")).status_code == 200

    try:
        await eventually(listening, within=45, interval=0.2, ignoring=(httpx.HTTPError,))
    except _PortTaken:
        return None
    return proc


async def _wait_for_sample(port: int, query: str, proc: subprocess.Popen[bytes], data: Path) -> str:
    async def sample() -> str | None:
        assert proc.poll() is None, (data / "prometheus.log").read_text()
        async with httpx.AsyncClient(timeout=2) as client:
            response = await client.get(f"http://127.0.0.1:{port}/api/v1/query", params={"query": query})
        # While it starts, Prometheus answers 503 with a plain-text body: not ready yet, ask again.
        if response.status_code == 200 and response.json()["data"]["result"]:
            return str(response.json()["data"]["result"][0]["value"][1])
        return None

    # Prometheus applies new targets every 5 s, then scrapes
    found = await eventually(sample, within=45, interval=0.2, ignoring=(httpx.HTTPError,), what=f"a sample of {query}")
    assert found is not None
    return found
