"""Herald as real processes for a benchmark run: every service and the three sandboxes, started by the local
starter on ports it holds from the moment it picks them, against a vhost and a database of their own (created and
dropped around the run, like the end-to-end tests)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from herald.contracts.platform import Platform
from herald.operator.local import DEV_TIERS_MS, Ports, Process, sandbox_process, topology, write_key_ring
from herald.operator.local_starter import LocalStarter

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ("scheduler", "tokens", "audit", "publisher-x", "publisher-linkedin", "publisher-meta")


@dataclass
class Stack:
    """Where each running part of Herald is, and the starter that runs it."""

    amqp_url: str
    database_url: str
    logs: Path
    starter: LocalStarter = field(init=False)
    ports: Ports = field(init=False)

    def __post_init__(self) -> None:
        self.starter = LocalStarter(logs=self.logs, cwd=ROOT)
        self.ports = self.starter.reserve_ports()

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{getattr(self.ports, service)}"

    def sandbox(self, platform: Platform) -> str:
        return f"http://127.0.0.1:{self.ports.sandboxes[platform]}"

    def publisher(self, platform: Platform) -> str:
        return f"http://127.0.0.1:{self.ports.publishers[platform]}"

    def pids(self) -> dict[str, int]:
        return self.starter.pids()

    def tail(self, name: str, chars: int = 3000) -> str:
        return self.starter.output(name, chars)

    def start(self, entries: list[Process]) -> None:
        self.starter.add_all(entries)
        self.starter.start_all()

    async def wait_ready(self) -> None:
        """Every service answers /readyz and every sandbox /healthz (a process that exits fails at once)."""
        await self.starter.wait_ready()

    def stop(self) -> None:
        """SIGTERM every process (services drain in-flight messages), then kill what has not exited in time."""
        self.starter.stop()


def processes(stack: Stack, *, pages: int, service_env: Mapping[str, str]) -> list[Process]:
    """The local topology, with the sandboxes swapped for :mod:`bench.sandbox` (configured for load)."""
    common = {"HERALD_AMQP_URL": stack.amqp_url, "HERALD_DATABASE_URL": stack.database_url, **service_env}
    key_file = write_key_ring(stack.logs / "token-keys.json", "bench")
    entries = topology(key_file, stack.ports, retry_tiers_ms=DEV_TIERS_MS, common_env=common)
    sandboxes = {
        f"sandbox-{p.value}": sandbox_process(p, port, "bench.sandbox", ("--pages", str(pages)))
        for p, port in stack.ports.sandboxes.items()
    }
    return [sandboxes.get(e.name, e) for e in entries]
