"""Fixtures for the audit service: a running instance on the real PostgreSQL and RabbitMQ, keys, a publisher."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import aio_pika
import asyncpg
import pytest
from faststream.rabbit import RabbitBroker
from prometheus_client import CollectorRegistry

from herald.audit.main import build
from herald.audit.settings import AuditSettings
from herald.contracts.base import Event
from herald.contracts.examples import example_for
from herald.contracts.publishing import PublishRequested
from herald.kit import db
from herald.kit.auth import IDENTITY_SCHEMA, ApiKeyStore
from herald.kit.broker import EventPublisher, build_broker, declare_exchanges
from herald.kit.settings import ServiceSettings
from tests.support.eventually import eventually
from tests.support.servers import serve


def asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def audit_settings(amqp_url: str, database_url: str, **overrides: Any) -> AuditSettings:
    """Settings with short intervals and a queue of its own (so test modules do not share deliveries)."""
    values: dict[str, Any] = {
        "amqp_url": amqp_url,
        "database_url": database_url,
        "queue_name": f"audit-test-{uuid.uuid4().hex[:8]}",
        "http_port": 0,
        "batch_max_wait_seconds": 0.02,
        "retry_initial_seconds": 0.05,
        "retry_max_seconds": 0.3,
        "write_timeout_seconds": 3,
        "graceful_timeout_seconds": 3,
        "publish_timeout_seconds": 5,
        "maintenance_interval_seconds": 3600,
        "export_page_size": 50,
        **overrides,
    }
    return AuditSettings(**values)


async def delete_queues(amqp_url: str, queue: str) -> None:
    """Remove a test's audit queue and its parking queue: a leftover queue bound to '#' would make every
    publish in the shared test vhost routable (tests elsewhere rely on unroutable publishes failing)."""
    connection = await aio_pika.connect_robust(amqp_url)
    try:
        channel = await connection.channel()
        for name in (queue, f"{queue}.dead", f"{queue}.dead.watch"):
            await channel.queue_delete(name)
    finally:
        await connection.close()


@dataclass
class RunningAudit:
    url: str
    settings: AuditSettings


@pytest.fixture(scope="module")
def audit(amqp_url: str, database_url: str) -> Iterator[RunningAudit]:
    """One audit service instance per test module, served over real HTTP from a thread."""
    settings = audit_settings(amqp_url, database_url)
    _, app = build(settings)
    with serve(app) as url:
        yield RunningAudit(url, settings)
    asyncio.run(delete_queues(amqp_url, settings.queue_name))


@pytest.fixture(scope="module")
async def key_store(database_url: str, audit: RunningAudit) -> AsyncIterator[ApiKeyStore]:
    """API keys, through an engine on the tests' own loop (the service's engine belongs to its thread)."""
    engine = db.create_engine(ServiceSettings(database_url=database_url), IDENTITY_SCHEMA, pool_size=2)
    yield ApiKeyStore(engine)
    await engine.dispose()


TeamKey = Callable[[], Awaitable[tuple[uuid.UUID, str]]]


@pytest.fixture
def new_team(key_store: ApiKeyStore) -> TeamKey:
    """Create a fresh team with one API key: ``team_id, key = await new_team()``."""

    async def create() -> tuple[uuid.UUID, str]:
        team = uuid.uuid4()
        _, key = await key_store.create(team, "audit-tests")
        return team, key

    return create


@pytest.fixture(scope="module")
async def broker(amqp_url: str) -> AsyncIterator[RabbitBroker]:
    broker = build_broker(ServiceSettings(amqp_url=amqp_url, service_name="audit-tests"), CollectorRegistry())
    await broker.connect()
    await declare_exchanges(broker)
    yield broker
    await broker.stop()


@pytest.fixture(scope="module")
def publisher(broker: RabbitBroker) -> EventPublisher:
    return EventPublisher(broker, source="/herald/audit-tests", timeout=5)


@pytest.fixture(scope="module")
async def pg(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A direct connection, as the database owner, to check what the service stored."""
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    yield conn
    await conn.close()


async def wait_for_rows(pg: asyncpg.Connection, team: uuid.UUID, expected: int, timeout: float = 10) -> int:
    """Wait until the team has ``expected`` audit rows; return the final count."""

    async def count_when_enough() -> int | None:
        count = int(await pg.fetchval("SELECT count(*) FROM audit.events WHERE team_id = $1", team))
        return count if count >= expected else None

    count = await eventually(count_when_enough, within=timeout, what=f"{expected} rows for team {team}")
    assert count is not None
    return count


async def record_marker(publisher: EventPublisher, pg: asyncpg.Connection, team: uuid.UUID) -> str:
    """Publish a marker event for ``team`` behind everything sent so far and wait until it is recorded: whatever
    was ahead of it in the queue (a duplicate, a report) has been handled by then. Returns its event id."""
    marker = publisher.envelope(for_team(example_for(PublishRequested), team))
    await publisher.publish_many([marker])

    async def recorded() -> bool:
        return bool(await pg.fetchval("SELECT count(*) FROM audit.events WHERE event_id = $1", marker.message_id))

    await eventually(recorded, what="the marker recorded")
    return marker.message_id


def for_team(event: Event, team: uuid.UUID | None, **changes: Any) -> Any:
    """A contracts example moved to ``team`` and to now (and any other fields changed), validated again."""
    values = {"occurred_at": dt.datetime.now(dt.UTC), **changes, "team_id": team}
    return type(event).model_validate({**event.model_dump(), **values})
