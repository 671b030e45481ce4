"""Two replicas of every service at once (the sandboxes once): competing consumers on every queue, two due loops
claiming with ``SKIP LOCKED``, two outbox relays, two token services refreshing single-flight. The batch must
come out exactly as with one of each, with both replicas of each consumer doing part of the work."""

from __future__ import annotations

import pytest

from herald.contracts.platform import Platform
from tests.chaos.batch import Batch
from tests.chaos.client import metric
from tests.chaos.conftest import Deployment
from tests.chaos.stack import SERVICES

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(400)]

CREATE_LATENCY_MS = 300


async def _per_replica(herald: Deployment, service: str, name: str, **labels: str) -> dict[str, float]:
    names = [n for n in herald.stack.processes if n.split("#")[0] == service]
    return {n: await metric(herald.stack.url(n), f"{name}_total", **labels) for n in names}


async def test_two_replicas_of_every_service(herald_replicated: Deployment) -> None:
    herald = herald_replicated
    assert len(herald.stack.services()) == 2 * len(SERVICES)
    for platform in Platform:
        await herald.sandboxes.arm(platform, kind="latency", latency_ms=CREATE_LATENCY_MS, count=100_000)
    watched = {
        **{f"publisher-{p.value}": ("herald_publish_attempts", {"outcome": "published"}) for p in Platform},
        "scheduler": ("herald_distributions_claimed", {"decision": "requested"}),
        "audit": ("herald_audit_events_written", {}),
    }
    before = {s: await _per_replica(herald, s, name, **labels) for s, (name, labels) in watched.items()}
    batch = await Batch.schedule(
        herald.team, herald.sandboxes, "two-replicas", herald.default_batch(), spread_seconds=8
    )

    figures, _ = await batch.verify(herald.record)
    done = {
        s: {n: v - before[s][n] for n, v in (await _per_replica(herald, s, name, **labels)).items()}
        for s, (name, labels) in watched.items()
    }
    figures.notes |= {s: "/".join(f"{v:.0f}" for v in per.values()) for s, per in done.items()}
    claimed = sum(done["scheduler"].values())
    assert claimed == len(batch.planned), f"{claimed} claims by the due loops for {len(batch.planned)} distributions"
    for service in (*(f"publisher-{p.value}" for p in Platform), "audit"):
        idle = [n for n, v in done[service].items() if v <= 0]
        assert not idle, f"{service}: replica {idle} did no work: the replicas were not both consuming ({done})"
    published = sum(sum(done[f"publisher-{p.value}"].values()) for p in Platform)
    assert published == figures.published, f"publishers counted {published} posts, the scheduler {figures.published}"
