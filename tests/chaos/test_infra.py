"""The broker and the database restart under a batch in flight.

RabbitMQ: ``rabbitmqctl stop_app`` / ``start_app`` (every vhost on this machine: the outage is kept short, six
seconds plus the time the broker takes to stop and start, and the broker is started again even if the scenario
fails). PostgreSQL: ``pg_ctlcluster ... restart``.
Every service must ride it out in place (no process may exit), and the batch must settle with the invariant intact.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import pytest

from herald.contracts.platform import Platform
from tests.chaos.batch import Batch, Planned
from tests.chaos.conftest import Deployment
from tests.chaos.infra import rabbit_outage, restart_postgres
from tests.chaos.stack import PLATFORM_TIMEOUT_SECONDS
from tests.support.eventually import eventually

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(300)]

CREATE_LATENCY_MS = 300
OUTAGE_SECONDS = 6.0
"""Longer than the services' graceful timeouts and the publishers' in-flight grace."""


async def _creates(herald: Deployment, account: str) -> int:
    return (await herald.sandboxes.stats(Platform.X))["create_requests"].get(account, 0)


async def _until(probe: Callable[[], Awaitable[int]], at_least: int, timeout: float) -> None:
    async def reached() -> bool:
        return await probe() >= at_least

    await eventually(reached, within=timeout, what=f"{at_least} reached")


def _dead(herald: Deployment) -> list[str]:
    return [name for name, running in herald.stack.processes.items() if not running.alive]


async def _slow_creates(herald: Deployment) -> None:
    for platform in Platform:
        await herald.sandboxes.arm(platform, kind="latency", latency_ms=CREATE_LATENCY_MS, count=100_000)


async def test_rabbitmq_restart_mid_batch(herald: Deployment) -> None:
    """The broker goes away with platform calls in flight. Three creates on one X account are held by the sandbox
    past the client's timeout (the post is stored) when it stops, and the read-back after the restart fails: those
    end ``unconfirmed`` (a human decides), everything else ``published``; nothing is stuck."""
    await _slow_creates(herald)
    batch = await Batch.schedule(herald.team, herald.sandboxes, "rabbitmq-restart", herald.default_batch())
    x1 = next(t for t in herald.targets if t.platform is Platform.X)
    await batch.wait_posted(len(batch.planned) // 4)

    held = 3
    creates_before = (await herald.sandboxes.stats(Platform.X))["create_requests"].get(x1.sandbox_account, 0)
    await herald.sandboxes.clear_faults()  # faults apply in arming order: the held creates go first
    hold_ms = int((PLATFORM_TIMEOUT_SECONDS + 1.5) * 1000)
    await herald.sandboxes.arm(
        Platform.X, kind="accept_then_fail", mode="timeout", latency_ms=hold_ms, account=x1.sandbox_account, count=held
    )
    await herald.sandboxes.arm(
        Platform.X, kind="error", error="server_error", operation="read", account=x1.sandbox_account, count=held
    )
    await _slow_creates(herald)
    await _until(lambda: _creates(herald, x1.sandbox_account), creates_before + held, timeout=15)

    batch.mark_fault()
    began = time.monotonic()
    async with rabbit_outage(outage_seconds=OUTAGE_SECONDS):
        pass
    outage = time.monotonic() - began
    died = _dead(herald)
    await herald.stack.ensure_healthy()  # restart what died, so the batch can still be judged

    def expected(planned: Planned) -> frozenset[str]:
        return frozenset({"published", "unconfirmed"}) if planned.target == x1 else frozenset({"published"})

    notes = {"broker_down": f"{outage:.1f}s", "died": ",".join(died) or "none", "held_creates": held}
    _, details = await batch.verify(herald.record, expected=expected, notes=notes)
    assert not died, f"processes exited when RabbitMQ restarted: {died}\n" + "\n".join(
        herald.stack.output(name, 3000) for name in died
    )
    unconfirmed = [d for d in details.values() if d["status"] == "unconfirmed" and d["account_id"] == x1.account_id]
    assert len(unconfirmed) <= held, unconfirmed
    unused = [f for f in await herald.sandboxes.armed(Platform.X) if f["kind"] != "latency"]
    assert not unused, f"the held creates or the failing read-backs never happened: {unused}"


async def test_postgres_restart_mid_batch(herald: Deployment) -> None:
    """PostgreSQL restarts under every service at once (pooled connections die, commits fail mid-flight)."""
    await _slow_creates(herald)
    batch = await Batch.schedule(herald.team, herald.sandboxes, "postgres-restart", herald.default_batch())
    await batch.wait_posted(len(batch.planned) // 4)

    batch.mark_fault()
    took = await restart_postgres()
    died = _dead(herald)
    await herald.stack.ensure_healthy()

    await batch.verify(herald.record, notes={"db_restart": f"{took:.1f}s", "died": ",".join(died) or "none"})
    assert not died, f"processes exited when PostgreSQL restarted: {died}\n" + "\n".join(
        herald.stack.output(name, 3000) for name in died
    )
