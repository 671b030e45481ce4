"""The audit service as a real process: configured from HERALD_* variables, records events, stops on SIGTERM."""

import asyncio
import json
import signal
import uuid
from pathlib import Path

import asyncpg

from herald.contracts.examples import example_for
from herald.contracts.publishing import PublishSucceeded
from herald.kit.broker import EventPublisher
from herald.operator.local import Process
from herald.operator.local_starter import LocalStarter
from tests.audit.conftest import delete_queues, for_team, wait_for_rows
from tests.support.eventually import PROCESS_READY_SECONDS


async def test_python_m_herald_audit_serves_records_and_stops_gracefully(
    amqp_url: str, database_url: str, publisher: EventPublisher, pg: asyncpg.Connection, tmp_path: Path
) -> None:
    queue = f"audit-proc-{uuid.uuid4().hex[:6]}"
    env = {
        "HERALD_AMQP_URL": amqp_url,
        "HERALD_DATABASE_URL": database_url,
        "HERALD_QUEUE_NAME": queue,
        "HERALD_BATCH_MAX_WAIT_SECONDS": "0.02",
        "HERALD_GRACEFUL_TIMEOUT_SECONDS": "5",
    }
    starter = LocalStarter(logs=tmp_path)
    starter.add(Process("audit", starter.reserve_port(), "herald.audit", env=env))
    try:
        starter.start_all()
        await starter.wait_ready(within=PROCESS_READY_SECONDS)
        team = uuid.uuid4()
        await publisher.publish_many(
            publisher.envelope(for_team(example_for(PublishSucceeded), team)) for _ in range(30)
        )
        assert await wait_for_rows(pg, team, 30) == 30
        returncode = await asyncio.to_thread(starter.terminate, "audit", 20)
    finally:
        starter.stop()
        await delete_queues(amqp_url, queue)
    assert returncode in (0, -signal.SIGTERM)
    output = starter.output("audit", tail=1_000_000)
    logs = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert {entry["service"] for entry in logs} == {"audit"}
    assert any(entry["message"] == "service stopped" for entry in logs)
