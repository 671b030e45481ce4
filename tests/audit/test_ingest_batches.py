"""Batches on the real RabbitMQ and PostgreSQL: a batch with a malformed message and a row PostgreSQL refuses
among valid events parks those two, writes every other event once, and leaves nothing to be redelivered."""

import re
import uuid

import aio_pika
import asyncpg
import httpx

from herald.contracts.examples import example_for
from herald.contracts.publishing import PublishRequested, PublishSucceeded
from herald.contracts.routing import EVENTS_EXCHANGE
from herald.kit.broker import EventPublisher
from tests.audit.conftest import RunningAudit, for_team, wait_for_rows
from tests.support.eventually import eventually
from tests.support.queues import ready_and_parked

VALID = 60


def _metric(text: str, name: str) -> float:
    match = re.search(rf"^{name} ([0-9.e+]+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


async def test_bad_messages_in_a_batch_are_parked_and_the_rest_written_once(
    audit: RunningAudit, publisher: EventPublisher, pg: asyncpg.Connection, amqp_url: str
) -> None:
    team, poisoned = uuid.uuid4(), uuid.uuid4()
    queue = audit.settings.queue_name
    await pg.execute(f"ALTER TABLE audit.events ADD CONSTRAINT test_refuse_batch CHECK (entity_id <> '{poisoned}')")
    try:
        valid = [publisher.envelope(for_team(example_for(PublishRequested), team)) for _ in range(VALID)]
        refused = publisher.envelope(for_team(example_for(PublishSucceeded), team, distribution_id=poisoned))
        malformed_id = f"malformed-{uuid.uuid4().hex[:8]}"
        connection = await aio_pika.connect(amqp_url)
        try:
            channel = await connection.channel(publisher_confirms=True)
            exchange = await channel.get_exchange(EVENTS_EXCHANGE)
            half = VALID // 2
            await publisher.publish_many([*valid[:half], refused])
            await exchange.publish(
                aio_pika.Message(b"{not json", message_id=malformed_id, content_type="application/json"),
                routing_key="publish.requested.v2.x",
            )
            await publisher.publish_many(valid[half:])
        finally:
            await connection.close()

        await wait_for_rows(pg, team, VALID + 1, timeout=20)  # the valid events and the report about the refused one
        parked_reports = "SELECT count(*) FROM audit.events WHERE action = 'message_parked' AND entity_id = ANY($1)"

        async def both_reported() -> bool:
            return bool(await pg.fetchval(parked_reports, [refused.message_id, malformed_id]) >= 2)

        async def settled() -> bool:  # nothing ready, both bad ones parked
            return await ready_and_parked(amqp_url, queue) == (0, 2)

        await eventually(both_reported, what="both bad ones reported as parked")
        await eventually(settled, what="the queue settled: nothing ready, both bad ones parked")

        rows = await pg.fetch("SELECT event_id, action FROM audit.events WHERE team_id = $1", team)
        ids = [r["event_id"] for r in rows if r["action"] == "publish_requested"]
        assert sorted(ids) == sorted(e.message_id for e in valid)  # every valid event, once
        assert refused.message_id not in {r["event_id"] for r in rows}
        async with httpx.AsyncClient(base_url=audit.url) as client:
            metrics = (await client.get("/metrics")).text
        assert _metric(metrics, "herald_audit_events_duplicate_total") == 0  # nothing committed came back
        assert _metric(metrics, "herald_audit_events_rejected_total") == 1
    finally:
        await pg.execute("ALTER TABLE audit.events DROP CONSTRAINT test_refuse_batch")
