"""The real RabbitMQ and PostgreSQL under fault: restarts that always end with the server back, raw messages
published past Herald's own publishers, and reads of parking queues and of the audit table."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import aio_pika
import asyncpg
import httpx

RABBIT_BACK_TIMEOUT_SECONDS = 120
POSTGRES_BACK_TIMEOUT_SECONDS = 60


def _run(*command: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(command), capture_output=True, text=True, timeout=timeout, check=False)


def rabbit_healthy() -> bool:
    return (
        _run("rabbitmq-diagnostics", "-q", "check_running", timeout=30).returncode == 0
        and _run("rabbitmq-diagnostics", "-q", "check_port_connectivity", timeout=30).returncode == 0
    )


def _rabbit_back() -> None:
    """Start the RabbitMQ application (idempotent) and wait until it accepts connections again."""
    deadline = time.monotonic() + RABBIT_BACK_TIMEOUT_SECONDS
    while not rabbit_healthy():
        _run("rabbitmqctl", "start_app")
        if time.monotonic() > deadline:
            raise AssertionError("RabbitMQ did not come back after the restart")
        time.sleep(1)  # between attempts to start it again (bounded by the deadline), not a wait to assert on


@asynccontextmanager
async def rabbit_outage(outage_seconds: float = 2.0) -> AsyncIterator[float]:
    """Stop the RabbitMQ application (every vhost on this machine) for a short outage, then start it again.

    The broker is started again even if the test fails inside the block; yields the seconds the stop took.
    """
    began = time.monotonic()
    try:
        stopped = await asyncio.to_thread(_run, "rabbitmqctl", "stop_app")
        assert stopped.returncode == 0, f"rabbitmqctl stop_app: {stopped.stderr}"
        took = time.monotonic() - began
        await asyncio.sleep(outage_seconds)  # the fault itself: how long the broker stays down
        await asyncio.to_thread(_rabbit_back)
        yield took
    finally:
        await asyncio.to_thread(_rabbit_back)


def postgres_version() -> str:
    versions = sorted(p.name for p in Path("/etc/postgresql").iterdir())
    assert versions, "no PostgreSQL cluster under /etc/postgresql"
    return versions[-1]


def _pg_ctl(action: str) -> subprocess.CompletedProcess[str]:
    return _run("pg_ctlcluster", "--skip-systemctl-redirect", postgres_version(), "main", action, timeout=120)


def postgres_ready() -> bool:
    return _run("pg_isready", "-h", "127.0.0.1", "-p", "5432", "-q", timeout=10).returncode == 0


def _postgres_back() -> None:
    deadline = time.monotonic() + POSTGRES_BACK_TIMEOUT_SECONDS
    while not postgres_ready():
        _pg_ctl("start")
        if time.monotonic() > deadline:
            raise AssertionError("PostgreSQL did not come back after the restart")
        time.sleep(0.5)  # between attempts to start it again (bounded by the deadline), not a wait to assert on


async def restart_postgres() -> float:
    """``pg_ctlcluster ... main restart`` (every database on this machine); PostgreSQL is running afterwards
    whatever happens. Returns how long the restart took."""
    began = time.monotonic()
    try:
        restarted = await asyncio.to_thread(_pg_ctl, "restart")
        assert restarted.returncode == 0, f"pg_ctlcluster restart: {restarted.stderr}"
    finally:
        await asyncio.to_thread(_postgres_back)
    return time.monotonic() - began


# -- raw messages ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Raw:
    """A message published past Herald's publishers (for garbage injection)."""

    message_id: str
    body: bytes
    headers: dict[str, Any]
    content_type: str | None
    exchange: str
    """``herald.events`` or ``""`` (the default exchange: ``routing_key`` is then a queue name)."""
    routing_key: str
    kind: str


async def publish_raw(amqp_url: str, messages: list[Raw]) -> None:
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel(publisher_confirms=True)
        for raw in messages:
            if raw.exchange:
                exchange = await channel.get_exchange(raw.exchange, ensure=False)
            else:
                exchange = channel.default_exchange
            message = aio_pika.Message(
                raw.body,
                headers=raw.headers,
                content_type=raw.content_type,
                message_id=raw.message_id,
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            )
            await exchange.publish(message, routing_key=raw.routing_key, mandatory=True)
    finally:
        await connection.close()


@dataclass(frozen=True)
class Parked:
    message_id: str
    headers: dict[str, Any]


async def parked(amqp_url: str, queue: str) -> list[Parked]:
    """Everything in a parking queue, left in place (fetched unacknowledged, returned when the channel closes)."""
    connection = await aio_pika.connect(amqp_url)
    found: list[Parked] = []
    try:
        channel = await connection.channel()
        source = await channel.get_queue(queue, ensure=False)
        while True:
            message = await source.get(no_ack=False, fail=False, timeout=5)
            if message is None:
                break
            found.append(Parked(message.message_id or "", dict(message.headers or {})))
    finally:
        await connection.close()
    return found


async def fetch(database_url: str, query: str, *args: Any) -> list[asyncpg.Record]:
    """The rows of one query, on a connection of its own (``database_url`` in SQLAlchemy's asyncpg spelling): what
    no API shows, read from the tables."""
    connection = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        rows: list[asyncpg.Record] = await connection.fetch(query, *args)
    finally:
        await connection.close()
    return rows


async def parked_audit_rows(database_url: str) -> list[dict[str, Any]]:
    """The audit log's ``message_parked`` rows (reports about unreadable messages have no team, so no API shows
    them to a team: read the table)."""
    rows = await fetch(
        database_url,
        "SELECT entity_id, metadata->>'Queue' AS queue, metadata->>'Category' AS category,"
        " metadata->>'Reason' AS reason FROM audit.events WHERE action = 'message_parked'",
    )
    return [dict(row) for row in rows]


async def queue_depth(amqp_url: str, queue: str) -> tuple[int, int]:
    """``(ready, unacknowledged)`` of a queue, from the management API (its counts lag by a few seconds)."""
    api, vhost, auth = _management(amqp_url)
    async with httpx.AsyncClient(timeout=10, auth=auth) as client:
        response = await client.get(f"{api}/queues/{vhost}/{quote(queue, safe='')}")
    response.raise_for_status()
    body = response.json()
    return int(body.get("messages_ready", 0)), int(body.get("messages_unacknowledged", 0))


class Capture:
    """Copies of the events published with a routing key, in a queue of the test's own (deleted at the end)."""

    def __init__(self, queue: aio_pika.abc.AbstractQueue) -> None:
        self._queue = queue

    async def drain(self) -> list[Raw]:
        taken: list[Raw] = []
        while (message := await self._queue.get(no_ack=True, fail=False, timeout=5)) is not None:
            taken.append(
                Raw(
                    message.message_id or "",
                    message.body,
                    dict(message.headers or {}),
                    message.content_type,
                    message.exchange or "",
                    message.routing_key or "",
                    "copy",
                )
            )
        return taken


@asynccontextmanager
async def capture(amqp_url: str, exchange: str, binding: str) -> AsyncIterator[Capture]:
    connection = await aio_pika.connect_robust(amqp_url)
    try:
        channel = await connection.channel()
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(exchange, routing_key=binding)
        yield Capture(queue)
    finally:
        await connection.close()


def _management(amqp_url: str) -> tuple[str, str, tuple[str, str]]:
    parts = urlsplit(amqp_url)
    vhost = parts.path.removeprefix("/") or "%2F"
    api = f"http://{parts.hostname}:{os.environ.get('HERALD_TEST_RABBIT_MGMT_PORT', '15672')}/api"
    return api, vhost, (parts.username or "guest", parts.password or "guest")
