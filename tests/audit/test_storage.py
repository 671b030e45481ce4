"""The audit table on the real PostgreSQL: idempotent inserts, append-only guarantees, partitions and retention.

Each test module run uses a schema of its own, so dropping partitions here never touches another test's rows.
"""

import asyncio
import dataclasses
import datetime as dt
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from herald.audit.ingest import Outcome, RecordWriter, WritePolicy
from herald.audit.main import MIGRATIONS
from herald.audit.metrics import AuditMetrics
from herald.audit.models import WRITER_ROLE, Action, AuditRecord, Entity
from herald.audit.partitions import Month
from herald.audit.repository import AuditRepository, EventFilter, Position
from herald.audit.service import PartitionMaintenance
from herald.kit import db
from herald.kit.migrations import upgrade
from herald.kit.settings import ServiceSettings
from tests.audit.conftest import asyncpg_dsn

SCHEMA = f"audit_storage_{uuid.uuid4().hex[:6]}"
TEAM = uuid.uuid4()


@pytest.fixture(scope="module")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    await upgrade(database_url, MIGRATIONS, SCHEMA)
    engine = db.create_engine(ServiceSettings(database_url=database_url), SCHEMA, pool_size=3)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="module")
async def repository(engine: AsyncEngine, database_url: str) -> AsyncIterator[AuditRepository]:
    pool = db.SchemaPool(ServiceSettings(database_url=database_url), SCHEMA, size=2)
    await pool.open()
    yield AuditRepository(engine, pool)
    await pool.close()


@pytest.fixture(scope="module")
async def owner(database_url: str, engine: AsyncEngine) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(asyncpg_dsn(database_url), server_settings={"search_path": SCHEMA})
    yield conn
    await conn.close()


def _record(occurred_at: dt.datetime, **changes: object) -> AuditRecord:
    record = AuditRecord(
        event_id=str(uuid.uuid4()),
        occurred_at=occurred_at,
        event_type="com.herald.publish.succeeded.v1",
        source="/herald/test",
        team_id=TEAM,
        actor="service:publisher-x",
        action=Action.CONTENT_PUBLISHED,
        entity=Entity.CONTENT_DISTRIBUTION,
        entity_id=str(uuid.uuid4()),
        platform="x",
        correlation_id="corr",
        metadata={"Title": "t"},
    )
    return dataclasses.replace(record, **changes)  # type: ignore[arg-type]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def test_migrating_again_is_a_no_op_and_the_writer_role_can_only_insert_and_select(
    database_url: str, owner: asyncpg.Connection
) -> None:
    await upgrade(database_url, MIGRATIONS, SCHEMA)  # the role exists already: tolerated
    role = await owner.fetchrow("SELECT rolcanlogin, rolsuper FROM pg_roles WHERE rolname = $1", WRITER_ROLE)
    assert role is not None
    assert (role["rolcanlogin"], role["rolsuper"]) == (False, False)
    privileges = await owner.fetch(
        "SELECT privilege_type FROM information_schema.role_table_grants"
        " WHERE grantee = $1 AND table_schema = $2 AND table_name = 'events'",
        WRITER_ROLE,
        SCHEMA,
    )
    assert {p["privilege_type"] for p in privileges} == {"INSERT", "SELECT"}


async def test_insert_returns_new_ids_and_skips_ones_already_stored(repository: AuditRepository) -> None:
    now = _now()
    first = [_record(now) for _ in range(3)]
    assert await repository.insert(first, now) == {r.event_id for r in first}
    second = [*first[:2], _record(now)]
    assert await repository.insert(second, now) == {second[2].event_id}
    rows = await repository.page(TEAM, EventFilter(), after=None, limit=100, descending=False)
    assert [r.event_id for r in rows].count(first[0].event_id) == 1


@pytest.mark.parametrize(
    "statement",
    ["UPDATE events SET action = 'tampered'", "DELETE FROM events", "TRUNCATE events"],
)
async def test_the_services_path_cannot_change_or_delete_rows(repository: AuditRepository, statement: str) -> None:
    await repository.insert([_record(_now())], _now())
    with pytest.raises(DBAPIError) as caught:
        async with repository.as_writer() as conn:
            await conn.execute(text(statement))
    assert getattr(caught.value.orig, "sqlstate", None) == "42501"  # insufficient_privilege


@pytest.mark.parametrize(
    "statement",
    ["UPDATE events SET action = 'tampered'", "DELETE FROM events", "TRUNCATE events"],
)
async def test_even_the_owner_is_stopped_by_the_append_only_trigger(owner: asyncpg.Connection, statement: str) -> None:
    with pytest.raises(asyncpg.RaiseError, match="append-only"):
        await owner.execute(statement)


async def test_the_trigger_also_guards_each_partition(repository: AuditRepository, owner: asyncpg.Connection) -> None:
    now = _now()
    await repository.insert([_record(now)], now)
    with pytest.raises(asyncpg.RaiseError, match="append-only"):
        await owner.execute(f'DELETE FROM "{Month.of(now).table_name}"')


async def test_a_partition_is_created_on_demand_for_an_old_or_future_month(repository: AuditRepository) -> None:
    old, future = _record(dt.datetime(2019, 7, 4, tzinfo=dt.UTC)), _record(dt.datetime(2041, 2, 1, tzinfo=dt.UTC))
    assert await repository.insert([old, future], _now()) == {old.event_id, future.event_id}
    assert {Month(2019, 7), Month(2041, 2)} <= set(await repository.partitions())


async def test_replicas_racing_to_create_a_partition_both_succeed(repository: AuditRepository) -> None:
    month = Month(2044, 4)
    created = await asyncio.gather(*(repository.ensure_partitions([month]) for _ in range(3)))
    assert [m for batch in created for m in batch].count(month) >= 1
    assert month in await repository.partitions()


async def test_a_partition_dropped_by_another_replica_is_recreated_for_the_next_batch(
    repository: AuditRepository, owner: asyncpg.Connection
) -> None:
    month = Month(2046, 3)
    first, second = _record(dt.datetime(2046, 3, 5, tzinfo=dt.UTC)), _record(dt.datetime(2046, 3, 6, tzinfo=dt.UTC))
    await repository.insert([first], _now())  # this process now knows the month's partition exists
    await owner.execute(f'DROP TABLE "{month.table_name}"')  # retention, as run by another replica
    writer = RecordWriter(repository, AuditMetrics(CollectorRegistry()), WritePolicy())

    assert [r.outcome for r in await writer.write([second], asyncio.Event())] == [Outcome.WRITTEN]
    assert month in await repository.partitions()


async def test_maintenance_creates_ahead_and_drops_what_retention_expired(
    repository: AuditRepository, owner: asyncpg.Connection
) -> None:
    now = dt.datetime(2030, 6, 15, tzinfo=dt.UTC)
    old, kept = _record(dt.datetime(2030, 1, 20, tzinfo=dt.UTC)), _record(dt.datetime(2030, 5, 2, tzinfo=dt.UTC))
    await repository.insert([old, kept], now)
    metrics = AuditMetrics(CollectorRegistry())
    maintenance = PartitionMaintenance(
        repository, metrics, retention_months=2, ahead_months=2, interval_seconds=3600, clock=lambda: now
    )
    report = await maintenance.run_once()

    assert {Month(2030, 6), Month(2030, 7), Month(2030, 8)} <= set(report.created)
    assert Month(2030, 1) in report.dropped
    assert Month(2030, 5) not in report.dropped
    partitions = set(await repository.partitions())
    assert Month(2030, 1) not in partitions
    assert {Month(2030, 5), Month(2030, 8)} <= partitions
    stored = {r["event_id"] for r in await owner.fetch("SELECT event_id FROM events")}
    assert old.event_id not in stored
    assert kept.event_id in stored
    assert metrics.partitions_dropped._value.get() == len(report.dropped)
    assert (await maintenance.run_once()).created == []  # idempotent


async def test_keyset_pages_cover_every_row_once_in_both_orders(repository: AuditRepository) -> None:
    team = uuid.uuid4()
    base = dt.datetime(2031, 3, 1, tzinfo=dt.UTC)
    # Several rows share a timestamp: the event id breaks the tie, so no row is skipped or repeated.
    records = [_record(base + dt.timedelta(seconds=i // 3), team_id=team) for i in range(11)]
    await repository.insert(records, base)
    for descending in (False, True):
        seen: list[str] = []
        after: Position | None = None
        while rows := await repository.page(team, EventFilter(), after=after, limit=4, descending=descending):
            seen += [r.event_id for r in rows]
            after = Position(rows[-1].occurred_at, rows[-1].event_id)
        expected = sorted(records, key=lambda r: (r.occurred_at, r.event_id), reverse=descending)
        assert seen == [r.event_id for r in expected]
