"""Two scheduler replicas as real processes: every due distribution is requested exactly once."""

import asyncio
import datetime as dt
import os
import signal
import statistics
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from herald.contracts.platform import Platform
from herald.contracts.publishing import PublishRequested
from herald.kit import db
from herald.kit.admin import BOOTSTRAP_HEADER
from herald.kit.settings import ServiceSettings
from tests.scheduler.support import BOOTSTRAP_SECRET, Broker, Team, delete_work_queues, now, watching
from tests.support.servers import free_port

DISTRIBUTIONS = 200


@contextmanager
def replicas(env: dict[str, str], count: int) -> Iterator[list[str]]:
    procs: list[subprocess.Popen[bytes]] = []
    urls: list[str] = []
    try:
        for _ in range(count):
            port = free_port()
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "herald.scheduler"],
                    env=env | {"HERALD_HTTP_PORT": str(port)},
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                )
            )
            urls.append(f"http://127.0.0.1:{port}")
        yield urls
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(timeout=20)
            assert proc.returncode in (0, -signal.SIGTERM)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()


async def wait_ready(client: httpx.AsyncClient, url: str) -> None:
    async with asyncio.timeout(30):
        while True:
            try:
                if (await client.get(f"{url}/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)


@pytest.fixture
async def env(database_url: str, amqp_url: str, sink: None) -> AsyncIterator[dict[str, str]]:
    suffix = uuid.uuid4().hex[:6]
    yield {
        **os.environ,
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
    amqp_url: str, env: dict[str, str], broker: Broker, engine_for: AsyncEngine
) -> None:
    async with watching(amqp_url, "publish.requested.v1.*") as watch, httpx.AsyncClient(timeout=10) as client:
        with replicas(env, 2) as urls:
            await asyncio.gather(*(wait_ready(client, url) for url in urls))
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

            # The distributions are all due, but held while their content awaits approval; approving it makes the
            # whole burst claimable at one instant, by both replicas (each is woken by the approval's NOTIFY).
            due = now() + dt.timedelta(milliseconds=500)
            gate = asyncio.Semaphore(20)

            async def schedule(i: int) -> str:
                async with gate:
                    response = await client.post(
                        f"{urls[i % 2]}/v1/distributions",
                        json={
                            "content_id": content_id,
                            "platform": "x",
                            "account_id": str(account),
                            "publish_at": due.isoformat(),
                        },
                        headers=team.headers,
                    )
                assert response.status_code == 201, response.text
                return str(response.json()["distribution_id"])

            scheduled = await asyncio.gather(*(schedule(i) for i in range(DISTRIBUTIONS)))
            await asyncio.sleep(max((due - now()).total_seconds(), 0) + 0.2)
            assert watch.of(PublishRequested, team_id=team.team_id) == []
            approved_at = now()
            await client.post(f"{urls[0]}/v1/contents/{content_id}/approve", headers=team.headers)

            requests = await watch.wait_for(PublishRequested, DISTRIBUTIONS, seconds=20, team_id=team.team_id)
            await asyncio.sleep(1)  # a duplicate would arrive by now
            requests = watch.of(PublishRequested, team_id=team.team_id)
            shares = [claimed((await client.get(f"{url}/metrics")).text) for url in urls]

    assert len(requests) == DISTRIBUTIONS
    assert sorted(str(r.distribution_id) for r in requests) == sorted(scheduled)
    assert sum(shares) == DISTRIBUTIONS
    assert all(share > 0 for share in shares), shares
    delays = sorted((r.occurred_at - approved_at).total_seconds() for r in requests)
    print(
        f"\nburst of {DISTRIBUTIONS} released at once over 2 replicas (batches of 10): claimed after"
        f" p50 {statistics.median(delays) * 1000:.0f} ms, max {delays[-1] * 1000:.0f} ms; shares {shares}"
    )
    assert delays[-1] < 3
