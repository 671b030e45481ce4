"""Audit ingest: how many events per second the audit service turns into rows.

``count`` valid ``ContentApproved`` events (only the audit service binds them) of a fresh team are published
straight to ``herald.events`` while the audit process is paused (SIGSTOP), so they wait in its queue; then it is
resumed (SIGCONT) and the clock runs until the last row is written (its ``recorded_at``). Pausing takes the
producer's speed out of the figure: this is the rate at which audit drains a backlog.

Then the latency that batching adds: ``PACED_RATE`` events a second for ``PACED_SECONDS``, each stamped with the
moment it is published (``occurred_at``), and ``recorded_at - occurred_at`` of every row (the batch wait, bounded by
``HERALD_BATCH_MAX_WAIT_SECONDS``, plus the write and the broker hop).
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from typing import Any

import aio_pika

from bench.harness import Harness, lateness_json, say, utcnow
from bench.resources import CpuMeter
from herald.contracts.distribution import ContentApproved
from herald.contracts.envelope import to_amqp
from herald.contracts.examples import example_for
from herald.contracts.routing import EVENTS_EXCHANGE

WINDOW = 100
PACED_RATE = 1000
PACED_SECONDS = 5
PACED_TICK_SECONDS = 0.01


def message(team_id: uuid.UUID, i: int) -> aio_pika.Message:
    event = example_for(ContentApproved).model_copy(
        update={"team_id": team_id, "content_id": uuid.uuid4(), "occurred_at": utcnow(), "title": f"ingest {i}"}
    )
    env = to_amqp(event, source="/herald/bench")
    return aio_pika.Message(
        env.body,
        headers=dict(env.headers),
        message_id=env.message_id,
        content_type=env.content_type,
        type=env.type,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
    )


def events(count: int, team_id: uuid.UUID) -> list[aio_pika.Message]:
    return [message(team_id, i) for i in range(count)]


async def paced(h: Harness, routing: str) -> dict[str, Any]:
    """``PACED_RATE`` events a second for ``PACED_SECONDS``, each stamped when it is published; the time each took
    to become a row (recorded_at - occurred_at)."""
    team_id = uuid.uuid4()
    count = PACED_RATE * PACED_SECONDS
    say(f"audit ingest: {PACED_RATE} events/s for {PACED_SECONDS} s, for the latency batching adds")
    connection = await aio_pika.connect(h.stack.amqp_url)
    try:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(EVENTS_EXCHANGE, ensure=False)
        began = time.monotonic()
        sent = 0
        while sent < count:
            due = min(count, int((time.monotonic() - began) * PACED_RATE) + 1)
            batch = [message(team_id, i) for i in range(sent, due)]  # stamped now, just before publishing
            await asyncio.gather(*(exchange.publish(m, routing_key=routing, mandatory=True) for m in batch))
            sent = due
            await asyncio.sleep(PACED_TICK_SECONDS)
        published_in = time.monotonic() - began
    finally:
        await connection.close()
    deadline = time.monotonic() + h.options.settle_timeout_seconds
    while time.monotonic() < deadline:
        if (await h.db.audit_rows(str(team_id)))[0] >= count:
            break
        await asyncio.sleep(0.1)
    sql = "SELECT extract(epoch FROM recorded_at - occurred_at) FROM audit.events WHERE team_id = $1"
    rows = await h.db.retrying(lambda conn: conn.fetch(sql, team_id))
    latency = [float(r[0]) for r in rows]
    return {
        "rate_per_second": PACED_RATE,
        "events": count,
        "rows": len(latency),
        "achieved_rate_per_second": round(count / published_in, 1),
        "latency_ms": lateness_json(latency),
        "method": "recorded_at - occurred_at; occurred_at is set just before the event is published",
    }


async def run(h: Harness, count: int) -> dict[str, Any]:
    team_id = uuid.uuid4()
    routing = to_amqp(example_for(ContentApproved), source="/herald/bench").routing_key
    messages = events(count, team_id)
    audit_pid = h.stack.pids()["audit"]
    say(f"audit ingest: publishing {count} events while audit is paused")
    connection = await aio_pika.connect(h.stack.amqp_url)
    os.kill(audit_pid, signal.SIGSTOP)
    try:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(EVENTS_EXCHANGE, ensure=False)
        began = time.perf_counter()
        for start in range(0, count, WINDOW):
            batch = messages[start : start + WINDOW]
            await asyncio.gather(*(exchange.publish(m, routing_key=routing, mandatory=True) for m in batch))
        published_in = time.perf_counter() - began
    finally:
        resumed = utcnow()
        cpu = CpuMeter(h.monitor)
        os.kill(audit_pid, signal.SIGCONT)
        await connection.close()
    deadline = time.monotonic() + h.options.settle_timeout_seconds
    rows, last = 0, None
    while time.monotonic() < deadline:
        rows, last = await h.db.audit_rows(str(team_id))
        if rows >= count:
            break
        await asyncio.sleep(0.1)
    cpu_window = cpu.read()
    seconds = (last - resumed).total_seconds() if last is not None else None
    per_second = round(rows / seconds, 1) if seconds and seconds > 0 else None
    say(f"audit ingest: {rows}/{count} rows, {per_second} events/s")
    cpu_json = cpu_window.as_json()
    latency = await paced(h, routing)
    return {
        "events": count,
        "rows": rows,
        "publish_seconds": round(published_in, 2),
        "seconds_to_last_row": None if seconds is None else round(seconds, 2),
        "events_per_second": per_second,
        "method": "backlog drained: events published while audit was paused (SIGSTOP), clock from SIGCONT to the"
        " last row's recorded_at",
        "resumed_at": resumed.isoformat(),
        "complete": rows >= count,
        "cpu": cpu_json,
        "cpu_ms_per_event": cpu_window.per_item_ms(rows),
        "paced": latency,
    }
