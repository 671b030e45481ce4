"""Migrations are owned per schema and safe when several replicas start at once."""

import asyncio
import sys
from pathlib import Path

import asyncpg
import pytest

from herald.kit.auth import IDENTITY_MIGRATIONS
from herald.kit.migrations import MigrationError, upgrade


async def _upgrade_in_a_process(database_url: str, schema: str) -> int:
    code = (
        "import asyncio, sys; from herald.kit.migrations import upgrade;"
        "from herald.kit.auth import IDENTITY_MIGRATIONS;"
        "asyncio.run(upgrade(sys.argv[1], IDENTITY_MIGRATIONS, sys.argv[2]));"
        # Alembic ran in the migration child: none of it stays in the memory of the process that migrated
        "sys.exit('alembic' in sys.modules)"
    )
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", code, database_url, schema)
    return await proc.wait()


async def test_concurrent_upgrades_from_several_replicas_apply_once(database_url: str) -> None:
    schema = "migration_race"
    codes = await asyncio.gather(*(_upgrade_in_a_process(database_url, schema) for _ in range(3)))
    assert codes == [0, 0, 0]
    await upgrade(database_url, IDENTITY_MIGRATIONS, schema)  # and once more in this process: a no-op
    conn = await asyncpg.connect(database_url.replace("+asyncpg", ""))
    try:
        versions = await conn.fetch(f"SELECT version_num FROM {schema}.alembic_version")
        tables = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = $1", schema)
    finally:
        await conn.close()
    assert [r["version_num"] for r in versions] == ["0001"]
    assert {r["tablename"] for r in tables} == {"alembic_version", "api_keys"}


def test_every_service_migration_directory_has_an_env() -> None:
    root = Path(__file__).resolve().parents[2]
    envs = [*root.glob("services/*/src/herald/*/migrations/env.py"), IDENTITY_MIGRATIONS / "env.py"]
    for env in envs:
        assert "run_env" in env.read_text(), env


async def test_a_failed_migration_raises_with_the_childs_error_and_no_password(tmp_path: Path) -> None:
    (tmp_path / "env.py").write_text("raise RuntimeError('broken env')\n")
    (tmp_path / "versions").mkdir()
    url = "postgresql+asyncpg://herald:s3cret-pw@127.0.0.1:1/nowhere"
    with pytest.raises(MigrationError, match="broken_schema") as failure:
        await upgrade(url, tmp_path, "broken_schema")
    assert "broken env" in str(failure.value)
    assert "s3cret-pw" not in str(failure.value)
