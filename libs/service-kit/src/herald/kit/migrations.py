"""Alembic, run programmatically: each service keeps ``migrations/`` beside its code and upgrades at start.

A service's ``migrations/env.py`` is two lines::

    from herald.kit.migrations import run_env
    run_env(SQLModel.metadata)          # or None for hand-written migrations

Migrations run inside a transaction that first takes a PostgreSQL advisory lock derived from the schema name, so
several replicas starting at once apply them exactly once (the others wait, then find nothing to do).
"""

from __future__ import annotations

import asyncio
import threading
import zlib
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

SCHEMA_OPTION = "herald_schema"
# Alembic's ``context`` is a process-global proxy, so upgrades inside one process must not overlap.
_in_process = threading.Lock()


def _config(database_url: str, script_location: Path, schema: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(script_location))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    config.set_main_option(SCHEMA_OPTION, schema)
    return config


async def upgrade(database_url: str, script_location: Path, schema: str) -> None:
    """Apply every pending migration of one schema (Alembic's ``upgrade head``)."""
    config = _config(database_url, script_location, schema)

    def run() -> None:
        with _in_process:
            command.upgrade(config, "head")

    await asyncio.to_thread(run)


def run_env(target_metadata: MetaData | None) -> None:
    """The body of a service's ``migrations/env.py`` (online mode only: Herald always migrates a live database)."""
    config = context.config
    schema = config.get_main_option(SCHEMA_OPTION) or "public"
    url = config.get_main_option("sqlalchemy.url") or ""

    def migrate(connection: Connection) -> None:
        # Lock first: two replicas racing on CREATE SCHEMA would otherwise collide on pg_namespace.
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": zlib.crc32(schema.encode())})
        connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        connection.execute(text(f'SET LOCAL search_path TO "{schema}"'))
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            version_table_schema=schema,
            include_schemas=False,
            transaction_per_migration=False,
        )
        with context.begin_transaction():
            context.run_migrations()

    async def main() -> None:
        engine = create_async_engine(url, hide_parameters=True)
        try:
            async with engine.begin() as conn:
                await conn.run_sync(migrate)
        finally:
            await engine.dispose()

    asyncio.run(main())
