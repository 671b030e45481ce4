"""The whole of Herald as real processes, under a test's control: start, SIGKILL, restart, wait for readiness.

The process table comes from :func:`herald.operator.local.topology` (the one ``make run`` and the end-to-end tests
use), on free ports, with an isolated vhost and database, short retry tiers and short grace settings so that a
scenario settles in seconds. Optionally every service runs twice (replicas on their own ports; the sandboxes once).
Each process appends to its own log file, so the evidence of a killed process survives its restart.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from herald.contracts.platform import Platform
from herald.operator.local import Ports, Process, topology
from tests.support.servers import free_port

CHAOS_TIERS_MS = (200, 400, 800)
"""Retry tiers: every delay is capped at 0.8 s, so retries and rate-limit holds cycle quickly."""
PLATFORM_TIMEOUT_SECONDS = 2.0
"""Publishers' HTTP timeout towards the sandboxes (a held ``accept_then_fail`` answer must outlast it)."""
IN_FLIGHT_GRACE_SECONDS = 4.0
"""How long a ``sending`` ledger row may belong to a live call; above the platform timeout, as the setting asks."""
READY_TIMEOUT_SECONDS = 120.0
SERVICES = ("tokens", "scheduler", "audit", *(f"publisher-{p.value}" for p in Platform))
"""Herald's services, in start order (the sandboxes start first)."""


def tuning(amqp_url: str, database_url: str) -> dict[str, str]:
    """Environment every service gets: the isolated broker and database, and short timings (names are each
    service's settings fields; a service ignores the ones it does not have)."""
    return {
        "HERALD_AMQP_URL": amqp_url,
        "HERALD_DATABASE_URL": database_url,
        "HERALD_LOG_LEVEL": "INFO",
        # PostgreSQL on this machine allows 100 connections, shared with every other test run: keep pools small
        "HERALD_DB_POOL_SIZE": "5",
        "HERALD_GRACEFUL_TIMEOUT_SECONDS": "5",
        "HERALD_PUBLISH_TIMEOUT_SECONDS": "5",
        # scheduler
        "HERALD_DUE_MAX_SLEEP_SECONDS": "1",
        "HERALD_DUE_ERROR_PAUSE_SECONDS": "0.5",
        "HERALD_OUTBOX_POLL_INTERVAL_SECONDS": "0.5",
        "HERALD_OUTBOX_MAX_BACKOFF_SECONDS": "2",
        "HERALD_CONSUMER_RETRY_PAUSE_SECONDS": "0.5",
        # audit
        "HERALD_RETRY_INITIAL_SECONDS": "0.2",
        "HERALD_RETRY_MAX_SECONDS": "1",
        "HERALD_WRITE_TIMEOUT_SECONDS": "5",
        # tokens
        "HERALD_REFRESH_TIMEOUT_SECONDS": "5",
        "HERALD_REFRESH_BACKOFF_SECONDS": "0.5",
        "HERALD_REFRESH_BACKOFF_MAX_SECONDS": "2",
        # publishers: every post asks the token service (no cache), so a token-service outage is felt at once
        "HERALD_IN_FLIGHT_GRACE_SECONDS": str(IN_FLIGHT_GRACE_SECONDS),
        "HERALD_TOKEN_CACHE_SECONDS": "0",
    }


@dataclass
class Running:
    """One process of the stack: what it runs and, while it runs, its Popen."""

    name: str
    """Unique in the stack: ``publisher-x``, or ``publisher-x#2`` for a second replica."""
    entry: Process
    proc: subprocess.Popen[bytes] | None = None

    @property
    def service(self) -> str:
        return self.name.split("#")[0]

    @property
    def is_sandbox(self) -> bool:
        return self.name.startswith("sandbox-")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.entry.port}"

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


@dataclass
class Stack:
    """A running Herald: every process by name, their logs, and the ports of the first replica of each."""

    ports: Ports
    logs: Path
    processes: dict[str, Running] = field(default_factory=dict)
    restarts: list[str] = field(default_factory=list)

    @classmethod
    def plan(
        cls,
        key_file: Path,
        logs: Path,
        env: Mapping[str, str],
        *,
        replicas: int = 1,
    ) -> Stack:
        ports = Ports(
            scheduler=free_port(),
            tokens=free_port(),
            audit=free_port(),
            publishers={p: free_port() for p in Platform},
            sandboxes={p: free_port() for p in Platform},
        )
        entries = topology(key_file, ports, retry_tiers_ms=CHAOS_TIERS_MS, common_env=env)
        stack = cls(ports, logs)
        timeouts = {f"HERALD_{p.value.upper()}__TIMEOUT_SECONDS": str(PLATFORM_TIMEOUT_SECONDS) for p in Platform}
        for entry in entries:
            tuned = {**entry.env, **timeouts} if entry.name.startswith(("publisher-", "tokens")) else entry.env
            first = Process(entry.name, entry.port, entry.module, entry.args, env=tuned)
            stack.processes[entry.name] = Running(entry.name, first)
        for n in range(2, replicas + 1):
            stack._add_replicas(n)
        return stack

    def _add_replicas(self, n: int) -> None:
        """Replica ``n`` of every service on its own port; replica n of a publisher asks replica n of tokens."""
        tokens_port = free_port()
        for name in SERVICES:
            first = self.processes[name].entry
            port = tokens_port if name == "tokens" else free_port()
            env = dict(first.env)
            if name == "tokens":
                env["HERALD_PUBLIC_BASE_URL"] = f"http://127.0.0.1:{port}"
            if name.startswith("publisher-"):
                env["HERALD_TOKENS_URL"] = f"http://127.0.0.1:{tokens_port}"
            replica = f"{name}#{n}"
            self.processes[replica] = Running(replica, Process(name, port, first.module, first.args, env=env))

    # -- lifecycle ------------------------------------------------------------------------------------------------

    def log_path(self, name: str) -> Path:
        return self.logs / f"{name.replace('#', '-')}.log"

    def output(self, name: str, tail: int = 4000) -> str:
        path = self.log_path(name)
        return path.read_text(errors="replace")[-tail:] if path.exists() else ""

    def start(self, name: str) -> None:
        running = self.processes[name]
        assert not running.alive, f"{name} is already running"
        entry = running.entry
        env = {**os.environ, "HERALD_HTTP_PORT": str(entry.port), "HERALD_SERVICE_NAME": running.service, **entry.env}
        with self.log_path(name).open("ab") as log:
            log.write(f"\n===== chaos: start {name} at {time.strftime('%H:%M:%S')} =====\n".encode())
            log.flush()
            running.proc = subprocess.Popen(
                [sys.executable, "-m", entry.module, *entry.args], env=env, stdout=log, stderr=subprocess.STDOUT
            )

    def start_all(self) -> None:
        for name in self.processes:
            self.start(name)

    def kill(self, name: str) -> None:
        """SIGKILL: no graceful shutdown, in-flight work is abandoned mid-call."""
        running = self.processes[name]
        assert running.proc is not None, f"{name} was never started"
        assert running.alive, f"{name} is not running"
        running.proc.send_signal(signal.SIGKILL)
        running.proc.wait(timeout=10)
        with self.log_path(name).open("ab") as log:
            log.write(f"\n===== chaos: SIGKILL {name} at {time.strftime('%H:%M:%S')} =====\n".encode())

    async def restart(self, name: str) -> None:
        self.start(name)
        self.restarts.append(name)
        await self.wait_ready([name])

    def stop_all(self) -> None:
        for running in self.processes.values():
            if running.alive and running.proc is not None:
                running.proc.send_signal(signal.SIGTERM)
        for running in self.processes.values():
            if running.proc is None:
                continue
            try:
                running.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                running.proc.kill()
                running.proc.wait(timeout=10)

    async def wait_ready(self, names: list[str] | None = None, timeout: float = READY_TIMEOUT_SECONDS) -> None:
        """Until every named process (default: all) answers its readiness probe; fails if one exits."""
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=2) as client:
            for name in names or list(self.processes):
                running = self.processes[name]
                path = "/healthz" if running.is_sandbox else "/readyz"
                while True:
                    if not running.alive:
                        raise AssertionError(f"{name} is not running:\n{self.output(name)}")
                    try:
                        if (await client.get(running.url + path)).status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    if time.monotonic() > deadline:
                        raise AssertionError(f"{name} not ready in {timeout:.0f}s:\n{self.output(name)}")
                    await asyncio.sleep(0.2)

    async def ensure_healthy(self) -> None:
        """Restart whatever a previous scenario left dead, then wait until everything is ready."""
        for name, running in self.processes.items():
            if not running.alive:
                self.start(name)
                self.restarts.append(name)
        await self.wait_ready()

    # -- addresses ------------------------------------------------------------------------------------------------

    def url(self, name: str) -> str:
        return self.processes[name].url

    def sandbox(self, platform: Platform) -> str:
        return self.url(f"sandbox-{platform.value}")

    def services(self) -> list[str]:
        return [name for name, running in self.processes.items() if not running.is_sandbox]


def key_ring(path: Path, key_b64: str) -> Path:
    path.write_text(json.dumps({"primary": "chaos", "keys": {"chaos": key_b64}}))
    return path
