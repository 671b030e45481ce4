"""SIGKILL of each service in turn while a batch is in flight, then a restart: nothing lost, nothing twice, the
audit log complete.

Every create call on the sandboxes is held for a second, so a killed publisher dies with platform calls in flight
(its ledger says ``sending``); the restarted one must reconcile them by reading the platform back, never re-send
blind.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from herald.contracts.platform import Platform
from herald.contracts.routing import EVENTS_EXCHANGE
from tests.chaos.batch import Batch
from tests.chaos.client import metric
from tests.chaos.conftest import Deployment
from tests.chaos.infra import capture, publish_raw
from tests.support.eventually import eventually

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(300)]

KILLED = ("scheduler", "publisher-x", "publisher-linkedin", "publisher-meta", "tokens", "audit")
CREATE_LATENCY_MS = 1000


@pytest.mark.parametrize("service", KILLED)
async def test_sigkill_mid_batch_then_restart(herald: Deployment, service: str) -> None:
    for platform in Platform:
        await herald.sandboxes.arm(platform, kind="latency", latency_ms=CREATE_LATENCY_MS, count=100_000)
    batch = await Batch.schedule(herald.team, herald.sandboxes, f"kill-{service}", herald.default_batch())

    await batch.wait_posted(len(batch.planned) // 4)
    batch.mark_fault()
    herald.stack.kill(service)
    down = time.monotonic()
    await asyncio.sleep(1.0)  # the fault itself: the service stays dead a while (not a wait before an assertion)
    await herald.stack.restart(service)
    outage = time.monotonic() - down

    await batch.verify(herald.record, notes={"killed": service, "down": f"{outage:.1f}s"})


async def test_publish_requests_delivered_again_after_publishing(herald: Deployment) -> None:
    """What the scheduler's outbox relay does when it dies (or loses PostgreSQL) between the broker's confirm and
    its commit, as the kill and restart scenarios can provoke: the same ``PublishRequested`` is delivered again
    after its post went out. Here every request of a batch is delivered a second time, deterministically. No second
    post may appear, and the audit log must still hold every step exactly once."""
    async with capture(herald.amqp_url, EVENTS_EXCHANGE, "publish.requested.v2.*") as copies:
        batch = await Batch.schedule(
            herald.team, herald.sandboxes, "requests-redelivered", herald.default_batch(4, 6, 6), spread_seconds=3
        )
        await batch.settle()
        requests = await copies.drain()
    assert len(requests) >= len(batch.planned), f"captured {len(requests)} requests for {len(batch.planned)} posts"

    audit = herald.stack.url("audit")

    async def audited() -> float:
        written = await metric(audit, "herald_audit_events_written_total")
        return written + await metric(audit, "herald_audit_events_duplicate_total")

    before = await audited()
    batch.mark_fault()
    await publish_raw(herald.amqp_url, requests)
    # Each copy reaches the audit log itself, and so does the outcome its publisher reports again: wait for both.

    async def both_audited() -> bool:
        return await audited() - before >= 2 * len(requests)

    await eventually(both_audited, within=60, interval=0.5, what=f"{2 * len(requests)} events audited")

    await batch.verify(herald.record, notes={"delivered_again": len(requests)})
