"""The transactional outbox on the real PostgreSQL and RabbitMQ: exactly-once relaying, outages, wake-ups, pruning."""

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aio_pika
import pytest
from faststream.rabbit import RabbitBroker
from prometheus_client import CollectorRegistry
from pydantic import SecretStr
from sqlalchemy import Connection, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from herald.contracts.envelope import AmqpEnvelope
from herald.contracts.routing import EVENTS_EXCHANGE
from herald.kit import db
from herald.kit.broker import EventPublisher, build_broker, declare_exchanges
from herald.kit.migrations import upgrade
from herald.kit.outbox import (
    OUTBOX,
    OutboxRelay,
    RelayResult,
    RelaySettings,
    add,
    add_many,
    add_set,
    drop_notify_trigger,
    insert_set,
    mark_written,
    restore_notify_trigger,
)
from herald.kit.settings import ServiceSettings
from tests.support.eventually import eventually
from tests.support.proxy import TcpProxy

MIGRATION = '''
"""Outbox.

Revision ID: 0001
"""
from alembic import op

from herald.kit.outbox import create_outbox, drop_outbox

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_outbox(op)


def downgrade() -> None:
    drop_outbox(op)
'''


@pytest.fixture
async def schema(database_url: str, tmp_path: Path) -> str:
    """A fresh schema with the outbox, created the way a service migration creates it."""
    migrations = tmp_path / "migrations"
    (migrations / "versions").mkdir(parents=True)
    (migrations / "env.py").write_text("from herald.kit.migrations import run_env\n\nrun_env(None)\n")
    (migrations / "versions" / "0001_outbox.py").write_text(MIGRATION)
    name = f"kit_outbox_{uuid.uuid4().hex[:8]}"
    await upgrade(database_url, migrations, name)
    return name


@pytest.fixture
async def engine(database_url: str, schema: str) -> AsyncIterator[AsyncEngine]:
    engine = db.create_engine(ServiceSettings(database_url=SecretStr(database_url)), schema, pool_size=4)
    yield engine
    await engine.dispose()


@pytest.fixture
def routing_key() -> str:
    return f"kit.outbox.{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def received(amqp_url: str, routing_key: str) -> AsyncIterator[list[aio_pika.abc.AbstractIncomingMessage]]:
    """Every message routed with ``routing_key``, collected from a real queue."""
    connection = await aio_pika.connect_robust(amqp_url)
    channel = await connection.channel()
    exchange = await channel.declare_exchange(EVENTS_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)
    queue = await channel.declare_queue(exclusive=True)
    await queue.bind(exchange, routing_key=routing_key)
    messages: list[aio_pika.abc.AbstractIncomingMessage] = []

    async def collect(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        messages.append(message)

    await queue.consume(collect, no_ack=True)
    yield messages
    await connection.close()


@dataclass
class Relay:
    """A relay under test and the registry its metrics are on."""

    relay: OutboxRelay
    registry: CollectorRegistry

    def metric(self, name: str) -> float:
        return float(self.registry.get_sample_value(name) or 0)


class Relays:
    """Builds relays (each with its own broker connection and metrics registry) and stops them afterwards."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._brokers: list[RabbitBroker] = []

    async def make(self, amqp_url: str, settings: RelaySettings, publish_timeout: float = 5) -> Relay:
        broker = build_broker(
            ServiceSettings(amqp_url=SecretStr(amqp_url), service_name="kit-outbox"), CollectorRegistry()
        )
        await broker.connect()
        await declare_exchanges(broker)
        self._brokers.append(broker)
        registry = CollectorRegistry()
        publisher = EventPublisher(broker, source="/herald/kit-outbox", timeout=publish_timeout)
        relay = OutboxRelay(self.engine, publisher, registry, settings=settings)
        return Relay(relay, registry)

    def start(self, relay: Relay) -> None:
        self._tasks.append(asyncio.create_task(relay.relay.run(self.stop)))

    async def close(self) -> None:
        self.stop.set()
        await asyncio.gather(*self._tasks)
        for broker in self._brokers:
            await broker.stop()


@pytest.fixture
async def relays(engine: AsyncEngine) -> AsyncIterator[Relays]:
    relays = Relays(engine)
    yield relays
    await relays.close()


def envelopes(routing_key: str, count: int) -> list[AmqpEnvelope]:
    return [
        AmqpEnvelope(
            exchange=EVENTS_EXCHANGE,
            routing_key=routing_key,
            body=f'{{"n": {n}}}'.encode(),
            headers={"n": str(n)},
            message_id=str(uuid.uuid4()),
            content_type="application/json",
            type="com.herald.test.outbox.v1",
        )
        for n in range(count)
    ]


async def wait_for_count(messages: list[aio_pika.abc.AbstractIncomingMessage], count: int, seconds: float) -> None:
    async def arrived() -> bool:
        return len(messages) >= count

    await eventually(arrived, within=seconds, what=f"{count} messages received")


async def publish_marker(
    engine: AsyncEngine, routing_key: str, received: list[aio_pika.abc.AbstractIncomingMessage]
) -> str:
    """A row added behind everything else and awaited: any copy published before it has arrived by then."""
    [marker] = envelopes(routing_key, 1)
    async with engine.begin() as conn:
        await add(conn, marker)

    async def marker_arrived() -> bool:
        return any(message.message_id == marker.message_id for message in received)

    await eventually(marker_arrived, what="the marker received")
    return marker.message_id


async def unpublished(engine: AsyncEngine) -> list[tuple[uuid.UUID, int, str | None]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(OUTBOX.c.id, OUTBOX.c.attempts, OUTBOX.c.last_error).where(OUTBOX.c.published_at.is_(None))
        )
        return [(row.id, row.attempts, row.last_error) for row in rows]


FAST = RelaySettings(batch_size=100, poll_interval_seconds=0.1, max_backoff_seconds=0.5, batch_timeout_seconds=10)


async def test_two_relays_publish_each_of_2000_rows_exactly_once(
    amqp_url: str,
    engine: AsyncEngine,
    relays: Relays,
    routing_key: str,
    received: list[aio_pika.abc.AbstractIncomingMessage],
) -> None:
    rows = envelopes(routing_key, 2000)
    async with engine.begin() as conn:
        await add_many(conn, rows)
    first, second = await relays.make(amqp_url, FAST), await relays.make(amqp_url, FAST)
    relays.start(first)
    relays.start(second)

    await wait_for_count(received, 2000, 60)

    async def all_marked_published() -> bool:
        return await unpublished(engine) == []

    await eventually(all_marked_published)
    marker = await publish_marker(engine, routing_key, received)

    ids = [message.message_id for message in received if message.message_id != marker]
    assert len(ids) == 2000
    assert set(ids) == {row.message_id for row in rows}
    assert await unpublished(engine) == []
    assert received[0].delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert received[0].headers["n"] in {row.headers["n"] for row in rows}
    # Both replicas did part of the work, and together exactly all of it.
    counts = [relay.metric("herald_outbox_published_total") for relay in (first, second)]
    assert sum(counts) == 2000 + 1  # and the marker
    assert all(count > 0 for count in counts)
    await first.relay.refresh_depth()
    assert first.metric("herald_outbox_depth") == 0


async def test_a_writers_connection_back_in_the_pool_wakes_the_relay_and_rolled_back_rows_are_never_published(
    amqp_url: str,
    engine: AsyncEngine,
    relays: Relays,
    routing_key: str,
    received: list[aio_pika.abc.AbstractIncomingMessage],
) -> None:
    # Polling every 30 s: anything published within a second was woken by the writer's connection going back.
    relay = await relays.make(amqp_url, RelaySettings(poll_interval_seconds=30))
    relays.start(relay)
    first = await publish_marker(engine, routing_key, received)  # published: the relay's first pass is over
    rolled_back, committed = envelopes(routing_key, 2)

    class Abort(Exception):
        pass

    async def add_then_fail() -> None:
        async with engine.begin() as conn:
            await add(conn, rolled_back)
            raise Abort

    with pytest.raises(Abort):
        await add_then_fail()
    async with engine.begin() as conn:
        await add(conn, committed)
    await wait_for_count(received, 2, 2)
    last = await publish_marker(engine, routing_key, received)  # a rolled-back row published would be ahead of it
    assert [message.message_id for message in received] == [first, committed.message_id, last]


@pytest.fixture
async def schema_pool(database_url: str, schema: str) -> AsyncIterator[db.SchemaPool]:
    pool = db.SchemaPool(ServiceSettings(database_url=SecretStr(database_url)), schema, size=2)
    await pool.open()
    yield pool
    await pool.close()


async def test_bare_connections_that_wrote_wake_the_relay_and_readers_do_not(
    amqp_url: str,
    engine: AsyncEngine,
    relays: Relays,
    schema_pool: db.SchemaPool,
    routing_key: str,
    received: list[aio_pika.abc.AbstractIncomingMessage],
) -> None:
    relay = await relays.make(amqp_url, RelaySettings(poll_interval_seconds=30, linger_seconds=0))
    relay.relay.watch(schema_pool)
    cycles: list[int] = []
    relay_once = relay.relay.relay_once

    async def counted() -> RelayResult:
        result = await relay_once()
        cycles.append(result.claimed)
        return result

    relay.relay.relay_once = counted  # type: ignore[method-assign]
    relays.start(relay)
    await publish_marker(engine, routing_key, received)  # the first pass is over
    alone, folded = envelopes(routing_key, 2)
    async with schema_pool.acquire() as connection:  # a single statement, committed on its own
        await add_set(connection, [alone])
    await wait_for_count(received, 2, 2)
    cycles_before = len(cycles)
    async with schema_pool.acquire() as connection, connection.transaction():
        # A writer folding the outbox insert into its own statement marks the connection itself.
        statement, arguments = insert_set([folded])
        await connection.execute(statement, *arguments)
        mark_written(connection)
        await asyncio.sleep(0.3)
        assert len(cycles) == cycles_before  # woken when the connection goes back, after the commit, not before
    await wait_for_count(received, 3, 2)
    [under_engine] = envelopes(routing_key, 1)
    async with engine.connect() as conn:  # the bare asyncpg connection under one of the engine's
        driver: Any = (await conn.get_raw_connection()).driver_connection
        async with driver.transaction():
            await add_set(driver, [under_engine])
    await wait_for_count(received, 4, 2)
    assert [m.message_id for m in received[1:]] == [alone.message_id, folded.message_id, under_engine.message_id]

    cycles_before = len(cycles)
    async with schema_pool.acquire() as connection:
        await connection.fetchval("SELECT count(*) FROM outbox")
    async with engine.begin() as conn:
        await conn.execute(text("SELECT count(*) FROM outbox"))
    await asyncio.sleep(0.3)
    assert len(cycles) == cycles_before  # connections that wrote no outbox row wake nobody


class _Op:
    """What the migration helpers take from Alembic, on a plain connection."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def get_bind(self) -> Connection:
        return self._connection


async def test_the_notify_trigger_of_earlier_outboxes_is_dropped_by_its_migration_and_restored_by_its_downgrade(
    engine: AsyncEngine,
) -> None:
    async def triggers() -> list[str]:
        async with engine.connect() as conn:
            rows = await conn.execute(
                text(
                    "SELECT t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
                    " WHERE c.relname = 'outbox' AND c.relnamespace = current_schema()::regnamespace"
                    " AND NOT t.tgisinternal"
                )
            )
            return [row.tgname for row in rows]

    assert await triggers() == []  # create_outbox makes none now
    async with engine.begin() as conn:
        await conn.run_sync(lambda sync: restore_notify_trigger(_Op(sync)))  # as an outbox made before
    assert await triggers() == ["outbox_notify"]
    for _ in range(2):  # idempotent
        async with engine.begin() as conn:
            await conn.run_sync(lambda sync: drop_notify_trigger(_Op(sync)))
        assert await triggers() == []


async def test_a_woken_relay_lingers_so_one_cycle_takes_the_commits_right_behind(
    amqp_url: str,
    engine: AsyncEngine,
    relays: Relays,
    routing_key: str,
    received: list[aio_pika.abc.AbstractIncomingMessage],
) -> None:
    relay = await relays.make(amqp_url, RelaySettings(poll_interval_seconds=30, linger_seconds=0.5))
    cycles: list[int] = []
    relay_once = relay.relay.relay_once

    async def counted() -> RelayResult:
        result = await relay_once()
        if result.claimed:
            cycles.append(result.claimed)
        return result

    relay.relay.relay_once = counted  # type: ignore[method-assign]
    relays.start(relay)
    await publish_marker(engine, routing_key, received)

    async def marker_cycle_over() -> bool:  # the marker arrives before its cycle has marked it and returned
        return cycles == [1]

    await eventually(marker_cycle_over)  # the relay now waits to be woken
    cycles.clear()
    rows = envelopes(routing_key, 3)
    for row in rows:  # three commits, each waking the relay, well within the linger
        async with engine.begin() as conn:
            await add(conn, row)
        await asyncio.sleep(0.05)
    await wait_for_count(received, 4, 5)

    async def one_cycle_took_all_three() -> bool:  # again, the messages arrive before their cycle has returned
        return bool(cycles)

    await eventually(one_cycle_took_all_three)
    assert cycles == [3]
    assert [m.message_id for m in received[1:]] == [row.message_id for row in rows]


@pytest.fixture
async def proxy(amqp_url: str) -> AsyncIterator[TcpProxy]:
    proxy = TcpProxy.in_front_of(amqp_url, 5672)
    yield proxy
    proxy.close()


def via(proxy: TcpProxy, amqp_url: str) -> str:
    return proxy.route(amqp_url, query="reconnect_interval=0.2")


async def test_a_broker_outage_leaves_rows_unpublished_until_it_is_over(
    amqp_url: str,
    engine: AsyncEngine,
    relays: Relays,
    proxy: TcpProxy,
    routing_key: str,
    received: list[aio_pika.abc.AbstractIncomingMessage],
) -> None:
    relay = await relays.make(via(proxy, amqp_url), FAST, publish_timeout=1)
    relays.start(relay)
    proxy.cut()
    rows = envelopes(routing_key, 50)
    async with engine.begin() as conn:
        await add_many(conn, rows)

    async def tried_and_failed() -> list[tuple[uuid.UUID, int, str | None]]:
        waiting = await unpublished(engine)
        # the relay tried, failed, and recorded why
        assert max(attempts for _, attempts, _ in waiting) >= 1
        assert relay.metric("herald_outbox_publish_failures_total") >= 1
        return waiting

    waiting = await eventually(tried_and_failed)
    assert len(waiting) == 50
    assert received == []

    async def depth_is(expected: float) -> bool:
        return relay.metric("herald_outbox_depth") == expected

    await eventually(lambda: depth_is(50), what="the depth gauge counting the rows held up by the outage")
    proxy.restore()  # the broker is back
    await wait_for_count(received, 50, 20)
    marker = await publish_marker(engine, routing_key, received)  # any copy published twice is ahead of it
    assert sorted(m.message_id or "" for m in received if m.message_id != marker) == sorted(
        row.message_id for row in rows
    )
    assert await unpublished(engine) == []
    await eventually(lambda: depth_is(0), what="the depth gauge back to 0 once the table drained")


async def test_the_depth_is_recounted_once_per_interval_not_once_per_cycle(
    amqp_url: str,
    engine: AsyncEngine,
    relays: Relays,
    routing_key: str,
    received: list[aio_pika.abc.AbstractIncomingMessage],
) -> None:
    relay = await relays.make(
        amqp_url, RelaySettings(poll_interval_seconds=30, linger_seconds=0, depth_interval_seconds=3600)
    )
    counts: list[int | None] = []
    cycles: list[int] = []
    refresh_depth, relay_once = relay.relay.refresh_depth, relay.relay.relay_once

    async def counted_refresh() -> int | None:
        counts.append(await refresh_depth())
        return counts[-1]

    async def counted_cycle() -> RelayResult:
        result = await relay_once()
        cycles.append(result.claimed)
        return result

    relay.relay.refresh_depth = counted_refresh  # type: ignore[method-assign]
    relay.relay.relay_once = counted_cycle  # type: ignore[method-assign]
    relays.start(relay)
    for _ in range(3):  # three commits, each relayed in a cycle of its own (no linger)
        await publish_marker(engine, routing_key, received)
    assert len([claimed for claimed in cycles if claimed]) == 3
    assert len(counts) == 1  # counted once, after the relay's first cycle, not after each of the three


async def test_an_unroutable_row_does_not_hold_up_the_others(
    amqp_url: str,
    engine: AsyncEngine,
    relays: Relays,
    routing_key: str,
    received: list[aio_pika.abc.AbstractIncomingMessage],
) -> None:
    relay = await relays.make(amqp_url, RelaySettings(batch_size=10))
    [stuck] = envelopes(f"nobody.listens.{uuid.uuid4().hex[:6]}", 1)
    async with engine.begin() as conn:
        await add(conn, stuck)
        await add_many(conn, envelopes(routing_key, 3))
    first = await relay.relay.relay_once()
    assert (first.claimed, first.published, first.failed) == (4, 3, 1)
    [(row_id, attempts, error)] = await unpublished(engine)
    assert (str(row_id), attempts) == (stuck.message_id, 1)
    assert error

    # Rows that failed go behind fresh ones, so a batch full of unroutable rows cannot starve the table.
    async with engine.begin() as conn:
        await add_many(conn, envelopes(routing_key, 9))
    await relay.relay.relay_once()
    await wait_for_count(received, 12, 5)
    assert [str(row_id) for row_id, _, _ in await unpublished(engine)] == [stuck.message_id]


async def test_confirmed_rows_are_deleted_and_failed_ones_kept_by_default(
    amqp_url: str,
    engine: AsyncEngine,
    relays: Relays,
    routing_key: str,
    received: list[aio_pika.abc.AbstractIncomingMessage],
) -> None:
    relay = await relays.make(amqp_url, RelaySettings())
    unroutable = envelopes("kit.outbox.nowhere", 1)[0]
    async with engine.begin() as conn:
        await add_many(conn, [*envelopes(routing_key, 3), unroutable])
    result = await relay.relay.relay_once()
    assert (result.published, result.failed) == (3, 1)
    await wait_for_count(received, 3, 5)
    async with engine.connect() as conn:
        left = (await conn.execute(text("SELECT id::text, attempts FROM outbox"))).all()
    assert [tuple(row) for row in left] == [(unroutable.message_id, 1)]  # only the row still to publish


async def test_without_retention_the_prune_clears_rows_an_earlier_version_marked(
    amqp_url: str, engine: AsyncEngine, relays: Relays, routing_key: str
) -> None:
    relay = await relays.make(amqp_url, RelaySettings())
    async with engine.begin() as conn:
        await add_many(conn, envelopes(routing_key, 2))
        await conn.execute(text("UPDATE outbox SET published_at = now()"))  # as a release that kept rows left them
    assert await relay.relay.prune() == 2


async def test_prune_deletes_only_old_published_rows(
    amqp_url: str,
    engine: AsyncEngine,
    relays: Relays,
    routing_key: str,
    received: list[aio_pika.abc.AbstractIncomingMessage],
) -> None:
    relay = await relays.make(amqp_url, RelaySettings(retention=dt.timedelta(days=7)))
    async with engine.begin() as conn:
        await add_many(conn, envelopes(routing_key, 3))
    assert (await relay.relay.relay_once()).published == 3
    async with engine.begin() as conn:
        await add(conn, envelopes(routing_key, 1)[0])

    assert await relay.relay.prune() == 0  # younger than the 7-day retention
    assert await relay.relay.prune(older_than=dt.timedelta(0)) == 3
    async with engine.connect() as conn:
        left = (await conn.execute(text("SELECT count(*) FROM outbox WHERE published_at IS NULL"))).scalar_one()
        total = (await conn.execute(text("SELECT count(*) FROM outbox"))).scalar_one()
    assert (left, total) == (1, 1)


async def test_add_joins_an_orm_session_transaction(
    amqp_url: str,
    engine: AsyncEngine,
    relays: Relays,
    routing_key: str,
    received: list[aio_pika.abc.AbstractIncomingMessage],
) -> None:
    relay = await relays.make(amqp_url, RelaySettings())
    [envelope] = envelopes(routing_key, 1)
    async with db.session_factory(engine)() as session, session.begin():
        await add(session, envelope)
        assert await unpublished(engine) == []  # not visible before the session commits
    assert (await relay.relay.relay_once()).published == 1
    await wait_for_count(received, 1, 5)
    assert received[0].message_id == envelope.message_id
    assert received[0].content_type == "application/json"
    assert received[0].type == "com.herald.test.outbox.v1"
