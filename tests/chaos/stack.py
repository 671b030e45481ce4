"""The whole of Herald as real processes, under a test's control: start, SIGKILL, restart, wait for readiness.

The process table comes from :func:`herald.operator.local.topology` and is run by
:class:`herald.operator.local_starter.LocalStarter` (as ``make run``, the end-to-end tests and the benchmark do), on
ports the starter holds from the moment it picks them, with an isolated vhost and database, short retry tiers and
short grace settings so that a scenario settles in seconds. Optionally every service runs twice (replicas on their
own ports; the sandboxes once). Each process appends to its own log file, so the evidence of a killed process
survives its restart.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from herald.contracts.platform import Platform
from herald.operator.local import topology
from herald.operator.local_starter import Child, LocalStarter

CHAOS_TIERS_MS = (200, 400, 800)
"""Retry tiers: every delay is capped at 0.8 s, so retries and rate-limit holds cycle quickly."""
PLATFORM_TIMEOUT_SECONDS = 2.0
"""Publishers' HTTP timeout towards the sandboxes (a held ``accept_then_fail`` answer must outlast it)."""
IN_FLIGHT_GRACE_SECONDS = 4.0
"""How long a ``sending`` ledger row may belong to a live call; above the platform timeout, as the setting asks."""
MEDIA_TUNING = {
    # X: 128 KiB APPEND segments, so an image of a few hundred KiB is uploaded in several steps a scenario can stop
    # between; every platform polls processing and container status twice a second
    "HERALD_X__MEDIA_SEGMENT_BYTES": str(128 * 1024),
    "HERALD_X__MEDIA_MIN_POLL_SECONDS": "0.5",
    "HERALD_LINKEDIN__MEDIA_POLL_INTERVAL_SECONDS": "0.5",
    "HERALD_META__CONTAINER_POLL_SECONDS": "0.5",
}
"""Publishers' media settings (names a publisher does not have are ignored)."""
SERVICES = ("tokens", "scheduler", "audit", "media", *(f"publisher-{p.value}" for p in Platform))
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


class Stack(LocalStarter):
    """A running Herald: every process by name, their logs, and the ports of the first replica of each."""

    def __init__(self, logs: Path) -> None:
        super().__init__(logs=logs)
        self.ports = self.reserve_ports()
        self.restarts: list[str] = []

    @classmethod
    def plan(
        cls,
        key_file: Path,
        logs: Path,
        env: Mapping[str, str],
        *,
        replicas: int = 1,
    ) -> Stack:
        stack = cls(logs)
        entries = topology(key_file, stack.ports, retry_tiers_ms=CHAOS_TIERS_MS, common_env=env)
        timeouts = {f"HERALD_{p.value.upper()}__TIMEOUT_SECONDS": str(PLATFORM_TIMEOUT_SECONDS) for p in Platform}
        timeouts["HERALD_META__FETCH_TIMEOUT_SECONDS"] = str(PLATFORM_TIMEOUT_SECONDS)  # a scenario settles fast
        for entry in entries:
            tuned = entry.name.startswith(("publisher-", "tokens"))
            media = MEDIA_TUNING if entry.name.startswith("publisher-") else {}
            stack.add(replace(entry, env={**entry.env, **timeouts, **media}) if tuned else entry)
        for n in range(2, replicas + 1):
            stack._add_replicas(n)
        return stack

    def _add_replicas(self, n: int) -> None:
        """Replica ``n`` of every service on its own port; replica n of a publisher asks replica n of tokens."""
        tokens_port = self.reserve_port()
        for name in SERVICES:
            first = self.children[name].entry
            port = tokens_port if name == "tokens" else self.reserve_port()
            env = dict(first.env)
            if name == "tokens":
                env["HERALD_PUBLIC_BASE_URL"] = f"http://127.0.0.1:{port}"
            if name.startswith("publisher-"):
                env["HERALD_TOKENS_URL"] = f"http://127.0.0.1:{tokens_port}"
            self.add(replace(first, port=port, env=env), name=f"{name}#{n}")

    @property
    def processes(self) -> dict[str, Child]:
        return self.children

    async def restart(self, name: str) -> None:
        self.restarts.append(name)
        await super().restart(name)

    def stop_all(self) -> None:
        self.stop(timeout=20)

    async def ensure_healthy(self) -> None:
        """Restart whatever a previous scenario left dead, then wait until everything is ready."""
        for name, child in self.children.items():
            if not child.alive:
                self.start(name)
                self.restarts.append(name)
        await self.wait_ready()

    # -- addresses ------------------------------------------------------------------------------------------------

    def sandbox(self, platform: Platform) -> str:
        return self.url(f"sandbox-{platform.value}")

    def services(self) -> list[str]:
        return [name for name in self.children if not name.startswith("sandbox-") and name != "objectstore"]
