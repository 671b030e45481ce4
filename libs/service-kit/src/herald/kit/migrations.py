"""Alembic, run programmatically: each service keeps ``migrations/`` beside its code and upgrades at start.

A service's ``migrations/env.py`` is two lines::

    from herald.kit.migrations import run_env
    run_env(SQLModel.metadata)          # or None for hand-written migrations

Migrations run inside a transaction that first takes a PostgreSQL advisory lock derived from the schema name, so
several replicas starting at once apply them exactly once (the others wait, then find nothing to do).

They run in a short-lived child process (``python -m herald.kit.migrations``): Alembic and Mako cost a service
~11 MiB of RSS that, once imported, would stay for the life of the process although they are needed only at start.
The child exiting gives that memory back; the parent waits for it, so start-up order is unchanged.
"""

from __future__ import annotations

import asyncio
import os
import sys
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import MetaData, text
from sqlalchemy.ext.asyncio import create_async_engine

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

SCHEMA_OPTION = "herald_schema"
DATABASE_URL_ENV = "HERALD_MIGRATIONS_DATABASE_URL"
"""How the child gets the database URL: its environment, never its command line (``ps`` shows that to anyone)."""
ERROR_TAIL_CHARS = 4000


class MigrationError(RuntimeError):
    """The migration child failed; the message ends with the tail of its stderr (Alembic's traceback)."""


async def upgrade(database_url: str, script_location: Path, schema: str) -> None:
    """Apply every pending migration of one schema (Alembic's ``upgrade head``)."""
    await upgrade_all(database_url, [(script_location, schema)])


async def upgrade_all(database_url: str, targets: Sequence[tuple[Path, str]]) -> None:
    """Apply every pending migration of each ``(script_location, schema)``, in order, in one child process."""
    if not targets:
        return
    args = [arg for location, schema in targets for arg in (str(location), schema)]
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        __name__,
        *args,
        env={**os.environ, DATABASE_URL_ENV: database_url},
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, stderr = await proc.communicate()
    except BaseException:  # cancelled (e.g. start-up aborted): no orphan left migrating behind us
        proc.kill()
        await proc.wait()
        raise
    if proc.returncode != 0:
        tail = stderr.decode(errors="replace")[-ERROR_TAIL_CHARS:]
        raise MigrationError(f"migrations of {[schema for _, schema in targets]} failed ({proc.returncode}):\n{tail}")


def _upgrade_here(database_url: str, targets: Sequence[tuple[Path, str]]) -> None:
    """The child's work: Alembic imported here only, so the services that import this module never load it."""
    from alembic import command  # noqa: PLC0415
    from alembic.config import Config  # noqa: PLC0415

    for location, schema in targets:
        config = Config()
        config.set_main_option("script_location", str(location))
        config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
        config.set_main_option(SCHEMA_OPTION, schema)
        command.upgrade(config, "head")


def run_env(target_metadata: MetaData | None) -> None:
    """The body of a service's ``migrations/env.py`` (online mode only: Herald always migrates a live database)."""
    # env.py runs inside Alembic (in the migration child), which has it loaded already
    from alembic import context  # noqa: PLC0415

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


if __name__ == "__main__":
    pairs = sys.argv[1:]
    _upgrade_here(os.environ[DATABASE_URL_ENV], [(Path(pairs[i]), pairs[i + 1]) for i in range(0, len(pairs), 2)])
