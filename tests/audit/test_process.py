"""The audit service as a real process: configured from HERALD_* variables, records events, stops on SIGTERM."""

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid

import asyncpg
import httpx

from herald.contracts.examples import example_for
from herald.contracts.publishing import PublishSucceeded
from herald.kit.broker import EventPublisher
from tests.audit.conftest import delete_queues, for_team, wait_for_rows
from tests.support.servers import free_port


async def _wait_ready(url: str, proc: subprocess.Popen[bytes]) -> None:
    async with httpx.AsyncClient() as client, asyncio.timeout(20):
        while True:
            assert proc.poll() is None, "the audit service exited during start-up"
            try:
                if (await client.get(f"{url}/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)


async def test_python_m_herald_audit_serves_records_and_stops_gracefully(
    amqp_url: str, database_url: str, publisher: EventPublisher, pg: asyncpg.Connection
) -> None:
    port, queue = free_port(), f"audit-proc-{uuid.uuid4().hex[:6]}"
    env = {
        **os.environ,
        "HERALD_AMQP_URL": amqp_url,
        "HERALD_DATABASE_URL": database_url,
        "HERALD_HTTP_PORT": str(port),
        "HERALD_QUEUE_NAME": queue,
        "HERALD_BATCH_MAX_WAIT_SECONDS": "0.02",
        "HERALD_GRACEFUL_TIMEOUT_SECONDS": "5",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "herald.audit"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        await _wait_ready(f"http://127.0.0.1:{port}", proc)
        team = uuid.uuid4()
        await publisher.publish_many(
            publisher.envelope(for_team(example_for(PublishSucceeded), team)) for _ in range(30)
        )
        assert await wait_for_rows(pg, team, 30) == 30
        proc.send_signal(signal.SIGTERM)
        output, _ = await asyncio.to_thread(proc.communicate, timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
        await delete_queues(amqp_url, queue)
    assert proc.returncode in (0, -signal.SIGTERM)
    logs = [json.loads(line) for line in output.decode().splitlines() if line.startswith("{")]
    assert {entry["service"] for entry in logs} == {"audit"}
    assert any(entry["message"] == "service stopped" for entry in logs)
