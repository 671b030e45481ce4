"""Two scheduler replicas as real processes: every due distribution is requested exactly once."""

import asyncio
import datetime as dt
import signal
import statistics
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from herald.contracts.platform import Platform
from herald.contracts.publishing import PublishRequested
from herald.kit import db
from herald.kit.admin import BOOTSTRAP_HEADER
from herald.kit.settings import ServiceSettings
from herald.operator.local import Process
from herald.operator.local_starter import LocalStarter
from tests.scheduler.support import BOOTSTRAP_SECRET, Broker, Team, delete_work_queues, now, watching
from tests.support.eventually import PROCESS_READY_SECONDS

DISTRIBUTIONS = 200


@contextmanager
def replicas(env: dict[str, str], count: int, logs: Path) -> Iterator[LocalStarter]:
    starter = LocalStarter(logs=logs)
    for n in range(count):
        starter.add(Process("scheduler", starter.reserve_port(), "herald.scheduler", env=env), name=f"scheduler#{n}")
    try:
        starter.start_all()
        yield starter
        for name in starter.children:
            assert starter.terminate(name, 20) in (0, -signal.SIGTERM)
    finally:
        starter.stop()


@pytest.fixture
async def env(database_url: str, amqp_url: str, sink: None) -> AsyncIterator[dict[str, str]]:
    suffix = uuid.uuid4().hex[:6]
    yield {
        "HERALD_ENVIRONMENT": "test",
        "HERALD_DATABASE_URL": database_url,
        "HERALD_AMQP_URL": amqp_url,
        "HERALD_BOOTSTRAP_SECRET": BOOTSTRAP_SECRET,
        "HERALD_DB_SCHEMA": f"scheduler_replicas_{suffix}",
        "HERALD_WORK_QUEUE": f"scheduler-replicas-{suffix}",
        "HERALD_DUE_BATCH_SIZE": "10",  # small batches, so both replicas get a share of one burst
        "HERALD_OUTBOX_POLL_INTERVAL_SECONDS": "0.2",
        "HERALD_GRACEFUL_TIMEOUT_SECONDS": "5",
        "HERALD_LOG_LEVEL": "WARNING",
    }
    await delete_work_queues(amqp_url, f"scheduler-replicas-{suffix}")


@pytest.fixture
async def engine_for(env: dict[str, str]) -> AsyncIterator[AsyncEngine]:
    settings = ServiceSettings(database_url=SecretStr(env["HERALD_DATABASE_URL"]))
    engine = db.create_engine(settings, env["HERALD_DB_SCHEMA"], pool_size=1)
    yield engine
    await engine.dispose()


def claimed(metrics: str) -> float:
    for line in metrics.splitlines():
        if line.startswith('herald_distributions_claimed_total{decision="requested"}'):
            return float(line.split()[-1])
    raise AssertionError("no herald_distributions_claimed_total in /metrics")


async def test_two_replicas_request_every_due_distribution_exactly_once(
    amqp_url: str, env: dict[str, str], broker: Broker, engine_for: AsyncEngine, tmp_path: Path
) -> None:
    async with watching(amqp_url, "publish.requested.v2.*") as watch, httpx.AsyncClient(timeout=10) as client:
        with replicas(env, 2, tmp_path) as starter:
            await starter.wait_ready(within=PROCESS_READY_SECONDS)
            urls = [child.url for child in starter.children.values()]
            key = await client.post(
                f"{urls[0]}/v1/admin/api-keys", json={}, headers={BOOTSTRAP_HEADER: BOOTSTRAP_SECRET}
            )
            body = key.json()
            team = Team(uuid.UUID(body["team_id"]), body["key_id"], {"Authorization": f"Bearer {body['api_key']}"})
            account = await broker.connect_account(engine_for, team, Platform.X)
            content = await client.post(
                f"{urls[1]}/v1/contents", json={"title": "Burst", "text": "All at once"}, headers=team.headers
            )
            content_id = content.json()["content_id"]
            marker_content = await client.post(
                f"{urls[0]}/v1/contents", json={"title": "Marker", "text": "Approved"}, headers=team.headers
            )
            marker_content_id = marker_content.json()["content_id"]
            await client.post(f"{urls[0]}/v1/contents/{marker_content_id}/approve", headers=team.headers)

            async def post(url: str, content: str, at: dt.datetime) -> str:
                body = {
                    "content_id": content,
                    "platform": "x",
                    "account_id": str(account),
                    "publish_at": at.isoformat(),
                }
                response = await client.post(f"{url}/v1/distributions", json=body, headers=team.headers)
                assert response.status_code == 201, response.text
                return str(response.json()["distribution_id"])

            async def marker(at: dt.datetime) -> str:
                """A distribution of approved content due at ``at``: its request proves the due loop got past it."""
                distribution_id = await post(urls[0], marker_content_id, at)
                await watch.wait_for(PublishRequested, 1, seconds=20, distribution_id=uuid.UUID(distribution_id))
                return distribution_id

            # The distributions are all due, but held while their content awaits approval; approving it makes the
            # whole burst claimable at one instant, by both replicas (each is woken by the approval's NOTIFY).
            due = now() + dt.timedelta(milliseconds=500)
            gate = asyncio.Semaphore(20)

            async def schedule(i: int) -> str:
                async with gate:
                    return await post(urls[i % 2], content_id, due)

            scheduled = await asyncio.gather(*(schedule(i) for i in range(DISTRIBUTIONS)))
            markers = [await marker(due)]  # requested: the due loop has been past ``due``, and held the burst
            assert watch.of(PublishRequested, content_id=uuid.UUID(content_id)) == []
            approved_at = now()
            await client.post(f"{urls[0]}/v1/contents/{content_id}/approve", headers=team.headers)

            await watch.wait_for(PublishRequested, DISTRIBUTIONS, seconds=20, content_id=uuid.UUID(content_id))
            markers.append(await marker(now()))  # requested behind the burst: a duplicate would be ahead of it
            requests = watch.of(PublishRequested, content_id=uuid.UUID(content_id))
            shares = [claimed((await client.get(f"{url}/metrics")).text) for url in urls]

    assert len(requests) == DISTRIBUTIONS
    assert sorted(str(r.distribution_id) for r in requests) == sorted(scheduled)
    assert sum(shares) == DISTRIBUTIONS + len(markers)
    assert all(share > 0 for share in shares), shares
    delays = sorted((r.occurred_at - approved_at).total_seconds() for r in requests)
    print(
        f"\nburst of {DISTRIBUTIONS} released at once over 2 replicas (batches of 10): claimed after"
        f" p50 {statistics.median(delays) * 1000:.0f} ms, max {delays[-1] * 1000:.0f} ms; shares {shares}"
    )
    assert delays[-1] < 3
