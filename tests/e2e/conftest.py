"""The whole of Herald as real processes (every service and the three sandboxes) on free ports, with a vhost and a
database of its own on the real RabbitMQ and PostgreSQL."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from herald.contracts.platform import Platform
from herald.operator.local import Ports, Process, topology
from tests.conftest import isolated_database, isolated_vhost
from tests.support.servers import free_port

TIERS_MS = (300, 600, 1200)
READY_TIMEOUT_SECONDS = 120


@dataclass
class Herald:
    """Where each part of a running Herald is, plus a client for its APIs."""

    ports: Ports
    processes: dict[str, subprocess.Popen[bytes]]
    logs: Path

    def url(self, service: str) -> str:
        port = getattr(self.ports, service)
        return f"http://127.0.0.1:{port}"

    def sandbox(self, platform: Platform) -> str:
        return f"http://127.0.0.1:{self.ports.sandboxes[platform]}"

    def publisher(self, platform: Platform) -> str:
        return f"http://127.0.0.1:{self.ports.publishers[platform]}"

    def output(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")


def _ports() -> Ports:
    return Ports(
        scheduler=free_port(),
        tokens=free_port(),
        audit=free_port(),
        publishers={p: free_port() for p in Platform},
        sandboxes={p: free_port() for p in Platform},
    )


def _start(entry: Process, logs: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "HERALD_HTTP_PORT": str(entry.port), "HERALD_SERVICE_NAME": entry.name, **entry.env}
    log = (logs / f"{entry.name}.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", entry.module, *entry.args], env=env, stdout=log, stderr=subprocess.STDOUT
    )


async def _wait_ready(herald: Herald) -> None:
    urls = [herald.url(s) for s in ("scheduler", "tokens", "audit")]
    urls += [herald.publisher(p) for p in Platform] + [herald.sandbox(p) for p in Platform]
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    async with httpx.AsyncClient(timeout=2) as client:
        for url in urls:
            path = "/healthz" if url.endswith(tuple(str(p) for p in herald.ports.sandboxes.values())) else "/readyz"
            while True:
                for name, proc in herald.processes.items():
                    if proc.poll() is not None:
                        raise AssertionError(f"{name} exited during start-up:\n{herald.output(name)[-3000:]}")
                try:
                    if (await client.get(url + path)).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise AssertionError(f"{url} not ready in {READY_TIMEOUT_SECONDS}s")
                await asyncio.sleep(0.2)


@pytest.fixture(scope="module")
def herald_env(
    amqp_base_url: str, database_base_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[dict[str, str], Path]]:
    run = uuid.uuid4().hex[:8]
    workdir = tmp_path_factory.mktemp("herald-e2e")
    key_file = workdir / "keys.json"
    key_file.write_text(
        json.dumps({"primary": "e2e", "keys": {"e2e": base64.b64encode(secrets.token_bytes(32)).decode()}})
    )
    with (
        isolated_vhost(amqp_base_url, f"herald-e2e-{run}") as amqp_url,
        isolated_database(database_base_url, f"herald_e2e_{run}") as database_url,
    ):
        env = {"HERALD_AMQP_URL": amqp_url, "HERALD_DATABASE_URL": database_url, "HERALD_LOG_LEVEL": "INFO"}
        yield env, key_file


@pytest.fixture(scope="module")
async def herald(
    herald_env: tuple[dict[str, str], Path], tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Herald]:
    env, key_file = herald_env
    ports = _ports()
    logs = tmp_path_factory.mktemp("logs")
    entries = topology(key_file, ports, retry_tiers_ms=TIERS_MS, common_env=env)
    herald = Herald(ports, {}, logs)
    try:
        for entry in entries:
            herald.processes[entry.name] = _start(entry, logs)
        await _wait_ready(herald)
        yield herald
    finally:
        for proc in herald.processes.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in herald.processes.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


class Api:
    """A team's view of Herald's public APIs."""

    def __init__(self, herald: Herald, client: httpx.AsyncClient) -> None:
        self.herald = herald
        self.client = client

    async def json(self, method: str, url: str, **kwargs: Any) -> Any:
        response = await self.client.request(method, url, **kwargs)
        assert response.status_code < 300, f"{method} {url}: {response.status_code} {response.text}"
        return response.json()
