"""The kit's engine on the real PostgreSQL: pooled connections the server has closed are replaced, not used."""

import asyncio
import uuid

import asyncpg
import pytest
from pydantic import SecretStr
from sqlalchemy import text

from herald.kit import db
from herald.kit.settings import ServiceSettings
from tests.support.eventually import eventually, immediately


async def test_a_pooled_connection_the_server_closed_is_replaced_at_checkout(database_url: str) -> None:
    name = f"kit-db-{uuid.uuid4().hex[:8]}"
    settings = ServiceSettings(database_url=SecretStr(database_url), service_name=name)
    engine = db.create_engine(settings, "public", pool_size=1)
    admin = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        async with engine.connect() as conn:
            first = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
            pooled = (await conn.get_raw_connection()).driver_connection
        assert isinstance(pooled, asyncpg.Connection)
        # What a PostgreSQL restart or an administrator does to every idle connection of the pool.
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", first)
        # The event loop reads the server's goodbye on the idle pooled connection (a restart's happens the same way).
        await eventually(immediately(pooled.is_closed), what="the pooled connection marked closed")

        async with engine.connect() as conn:
            second = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        assert second != first
        assert await admin.fetchval("SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", name) == 1
    finally:
        await admin.close()
        await engine.dispose()


async def test_a_schema_pool_confines_its_connections_like_the_engine(database_url: str) -> None:
    name = f"kit-pool-{uuid.uuid4().hex[:8]}"
    pool = db.SchemaPool(ServiceSettings(database_url=SecretStr(database_url), service_name=name), "ledger_schema")
    await pool.open()
    try:
        async with pool.acquire() as conn:
            seen = await conn.fetchrow(
                "SELECT current_setting('search_path') AS search_path, current_setting('application_name') AS name,"
                " current_setting('log_parameter_max_length_on_error') AS logged"
            )
        assert dict(seen) == {"search_path": "ledger_schema", "name": name, "logged": "0"}
    finally:
        await pool.close()
    with pytest.raises(RuntimeError, match="not open"):
        pool.acquire()


async def test_a_schema_pool_returns_a_connection_without_a_reset_round_trip(database_url: str) -> None:
    settings = ServiceSettings(database_url=SecretStr(database_url), service_name="kit-pool-reset")
    pool = db.SchemaPool(settings, "ledger_schema", size=1)  # one connection: the second acquire gets the first's
    await pool.open()
    try:
        async with pool.acquire() as conn:
            await conn.execute("SELECT set_config('herald.marker', 'kept', false)")
        async with pool.acquire() as conn:
            # asyncpg's default reset (RESET ALL and three more statements) would have cleared it on release.
            assert await conn.fetchval("SELECT current_setting('herald.marker', true)") == "kept"
    finally:
        await pool.close()


async def test_a_schema_pool_hands_out_connections_in_the_order_they_were_asked_for(database_url: str) -> None:
    """Many callers on few connections, as API requests are: none is ever passed over by one that asked later.
    (asyncpg's own queue lets a caller arriving as a connection comes back take it, and the waiter it was meant for
    waits again, at the back.)"""
    settings = ServiceSettings(database_url=SecretStr(database_url), service_name="kit-pool-fair")
    size, callers, rounds = 3, 24, 15
    pool = db.SchemaPool(settings, "ledger_schema", size=size)
    await pool.open()
    asked: list[int] = []
    served: list[int] = []
    ticket = iter(range(callers * rounds))

    async def caller() -> None:
        for _ in range(rounds):
            number = next(ticket)
            asked.append(number)
            async with pool.acquire() as conn:
                served.append(number)
                await conn.execute("SELECT 1")
            await asyncio.sleep(0)

    async def connect() -> None:
        async with pool.acquire() as conn:
            await asyncio.sleep(0.05)  # held until all are open
            await conn.execute("SELECT 1")

    try:
        await asyncio.gather(*(connect() for _ in range(size)))  # the pool opens its connections lazily
        await asyncio.gather(*(caller() for _ in range(callers)))
    finally:
        await pool.close()
    assert served == asked


async def test_a_schema_pool_plans_its_array_statements_once_however_large_the_table(database_url: str) -> None:
    """With a large joined table, PostgreSQL plans an ``unnest`` statement again at every execution (its generic plan
    assumes 10 array elements and looks dearer than a custom plan for one); a pool's connections plan it once."""
    schema = f"kit_plans_{uuid.uuid4().hex[:8]}"
    dsn = database_url.replace("postgresql+asyncpg://", "postgresql://", 1)
    admin = await asyncpg.connect(dsn)
    statement = "SELECT i.id FROM items i JOIN unnest($1::int[]) AS u(id) ON i.id = u.id"
    plans = "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement = $1"

    async def executed_eight_times(conn: asyncpg.Connection) -> dict[str, int]:
        for n in range(8):
            assert await conn.fetch(statement, [n + 1]) == [(n + 1,)]
        return dict(await conn.fetchrow(plans, statement))

    pool = db.SchemaPool(ServiceSettings(database_url=SecretStr(database_url), service_name="kit-plans"), schema)
    try:
        await admin.execute(f"CREATE SCHEMA {schema}")
        await admin.execute(f"CREATE TABLE {schema}.items (id int PRIMARY KEY, note text NOT NULL)")
        await admin.execute(f"INSERT INTO {schema}.items SELECT g, 'item ' || g FROM generate_series(1, 100000) g")
        await admin.execute(f"ANALYZE {schema}.items")
        plain = await asyncpg.connect(dsn, server_settings={"search_path": schema})
        try:  # the premise: a connection with the server's defaults plans every execution
            assert await executed_eight_times(plain) == {"generic_plans": 0, "custom_plans": 8}
        finally:
            await plain.close()
        await pool.open()
        async with pool.acquire() as conn:
            assert await executed_eight_times(conn) == {"generic_plans": 8, "custom_plans": 0}
    finally:
        await pool.close()
        await admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await admin.close()


async def test_a_schema_pool_never_scans_a_table_it_first_saw_empty(database_url: str) -> None:
    """A generic plan made while a table is new and empty prices a sequential scan at nothing, and without an
    ``ANALYZE`` it stays as the table grows: the publishers' ledger marked each delivery by scanning every row so
    far. A pool's connections look such rows up by their key from the first execution."""
    schema = f"kit_scans_{uuid.uuid4().hex[:8]}"
    dsn = database_url.replace("postgresql+asyncpg://", "postgresql://", 1)
    admin = await asyncpg.connect(dsn)
    # The shape of the ledger's mark: an UPDATE joined to the rows of arrays.
    statement = (
        "UPDATE items SET note = u.note FROM unnest($1::int[], $2::text[]) AS u(id, note)"
        " WHERE items.id = u.id RETURNING items.id"
    )
    scans = "SELECT seq_scan FROM pg_stat_user_tables WHERE relid = $1::regclass"

    async def sequential_scans(conn: asyncpg.Connection) -> int:
        before = await admin.fetchval(scans, f"{schema}.items")
        for n in range(8):
            await admin.execute(
                f"INSERT INTO {schema}.items SELECT g, 'new' FROM generate_series($1::int, $2::int) g",
                n * 1000 + 1,
                n * 1000 + 1000,
            )
            assert await conn.fetch(statement, [n * 1000 + 1], ["marked"]) == [(n * 1000 + 1,)]
        await conn.execute("SELECT pg_stat_force_next_flush()")  # a backend reports its counts when next idle
        await asyncio.sleep(1.0)
        return int(await admin.fetchval(scans, f"{schema}.items")) - int(before)

    pool = db.SchemaPool(ServiceSettings(database_url=SecretStr(database_url), service_name="kit-scans"), schema)
    try:
        await admin.execute(f"CREATE SCHEMA {schema}")
        await admin.execute(f"CREATE TABLE {schema}.items (id int PRIMARY KEY, note text NOT NULL)")
        plain = await asyncpg.connect(
            dsn, server_settings={"search_path": schema, "plan_cache_mode": "force_generic_plan"}
        )
        try:  # the premise: with generic plans alone, the plan made on the empty table scans it at every execution
            assert await sequential_scans(plain) >= 8
        finally:
            await plain.close()
        await admin.execute(f"TRUNCATE {schema}.items")
        await pool.open()
        async with pool.acquire() as conn:
            assert await sequential_scans(conn) == 0
    finally:
        await pool.close()
        await admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await admin.close()
