"""Herald as real processes for a benchmark run: every service and the three sandboxes on free ports, against a
vhost and a database of their own (created and dropped around the run, like the end-to-end tests)."""

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
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from herald.contracts.platform import Platform
from herald.operator.local import DEV_TIERS_MS, Ports, Process, topology
from tests.support.servers import free_port

ROOT = Path(__file__).resolve().parents[1]
READY_TIMEOUT_SECONDS = 120
STOP_TIMEOUT_SECONDS = 30
SERVICES = ("scheduler", "tokens", "audit", "publisher-x", "publisher-linkedin", "publisher-meta")


@dataclass
class Stack:
    """Where each running part of Herald is."""

    ports: Ports
    amqp_url: str
    database_url: str
    logs: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{getattr(self.ports, service)}"

    def sandbox(self, platform: Platform) -> str:
        return f"http://127.0.0.1:{self.ports.sandboxes[platform]}"

    def publisher(self, platform: Platform) -> str:
        return f"http://127.0.0.1:{self.ports.publishers[platform]}"

    def pids(self) -> dict[str, int]:
        return {name: proc.pid for name, proc in self.processes.items()}

    def tail(self, name: str, chars: int = 3000) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")[-chars:]


def free_ports() -> Ports:
    return Ports(
        scheduler=free_port(),
        tokens=free_port(),
        audit=free_port(),
        publishers={p: free_port() for p in Platform},
        sandboxes={p: free_port() for p in Platform},
    )


def write_key_file(directory: Path) -> Path:
    path = directory / "token-keys.json"
    key = base64.b64encode(secrets.token_bytes(32)).decode()
    path.write_text(json.dumps({"primary": "bench", "keys": {"bench": key}}))
    path.chmod(0o600)
    return path


def processes(stack: Stack, *, pages: int, service_env: Mapping[str, str]) -> list[Process]:
    """The local topology, with the sandboxes swapped for :mod:`bench.sandbox` (configured for load)."""
    common = {"HERALD_AMQP_URL": stack.amqp_url, "HERALD_DATABASE_URL": stack.database_url, **service_env}
    entries = topology(write_key_file(stack.logs), stack.ports, retry_tiers_ms=DEV_TIERS_MS, common_env=common)
    sandbox_args = {
        p: (p.value, "--port", str(port), "--pages", str(pages)) for p, port in stack.ports.sandboxes.items()
    }
    return [
        Process(e.name, e.port, "bench.sandbox", sandbox_args[Platform(e.name.removeprefix("sandbox-"))])
        if e.name.startswith("sandbox-")
        else e
        for e in entries
    ]


def start(stack: Stack, entries: list[Process]) -> None:
    for entry in entries:
        env = {**os.environ, "HERALD_HTTP_PORT": str(entry.port), "HERALD_SERVICE_NAME": entry.name, **entry.env}
        log = (stack.logs / f"{entry.name}.log").open("wb")
        stack.processes[entry.name] = subprocess.Popen(  # noqa: S603 - our own interpreter and modules
            [sys.executable, "-m", entry.module, *entry.args], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT
        )


async def wait_ready(stack: Stack) -> None:
    """Every service answers /readyz and every sandbox /healthz (a process that exits fails at once)."""
    targets = [(stack.url(s), "/readyz") for s in ("scheduler", "tokens", "audit")]
    targets += [(stack.publisher(p), "/readyz") for p in Platform]
    targets += [(stack.sandbox(p), "/healthz") for p in Platform]
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    async with httpx.AsyncClient(timeout=2) as client:
        for base, path in targets:
            while True:
                for name, proc in stack.processes.items():
                    if proc.poll() is not None:
                        raise RuntimeError(f"{name} exited during start-up:\n{stack.tail(name)}")
                try:
                    if (await client.get(base + path)).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{base}{path} not ready within {READY_TIMEOUT_SECONDS} s")
                await asyncio.sleep(0.2)


def stop(stack: Stack) -> None:
    """SIGTERM every process (services drain in-flight messages), then kill what has not exited in time."""
    for proc in stack.processes.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
    for proc in stack.processes.values():
        try:
            proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
