"""``outbox.add_set``: the set-based outbox write on a bare asyncpg connection stores exactly what ``add_many`` does."""

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from herald.contracts.envelope import AmqpEnvelope
from herald.kit import db
from herald.kit.migrations import upgrade
from herald.kit.outbox import add_many, add_set
from herald.kit.settings import ServiceSettings
from tests.kit.test_outbox import MIGRATION


@pytest.fixture
async def outbox_engine(database_url: str, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """An engine on a fresh schema with the outbox, migrated the way a service migrates it."""
    migrations = tmp_path / "migrations"
    (migrations / "versions").mkdir(parents=True)
    (migrations / "env.py").write_text("from herald.kit.migrations import run_env\n\nrun_env(None)\n")
    (migrations / "versions" / "0001_outbox.py").write_text(MIGRATION)
    schema = f"kit_outbox_set_{uuid.uuid4().hex[:8]}"
    await upgrade(database_url, migrations, schema)
    engine = db.create_engine(ServiceSettings(database_url=SecretStr(database_url)), schema, pool_size=2)
    yield engine
    await engine.dispose()


def _envelope(i: int, routing_key: str) -> AmqpEnvelope:
    return AmqpEnvelope(
        exchange="herald.events",
        routing_key=routing_key,
        body=f'{{"n": {i}, "text": "caf\\u00e9 \\"quoted\\""}}'.encode(),
        headers={"cloudEvents:id": str(i), "cloudEvents:type": "com.herald.test", "x-n": str(i)},
        message_id=str(uuid.uuid4()),
        content_type="application/json",
        type="com.herald.test",
    )


async def _rows(engine: AsyncEngine, key: str) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        result = await conn.execute(
            text(
                "SELECT exchange, routing_key, message_type, content_type, body, headers, published_at, attempts"
                " FROM outbox WHERE routing_key = :k ORDER BY body"
            ),
            {"k": key},
        )
        return [dict(row._mapping) for row in result]


async def test_add_set_writes_the_rows_add_many_writes_in_the_callers_transaction(outbox_engine: AsyncEngine) -> None:
    engine = outbox_engine
    by_many, by_set, rolled_back = (f"kit.set.{uuid.uuid4().hex[:6]}" for _ in range(3))
    async with engine.begin() as conn:
        await add_many(conn, [_envelope(i, by_many) for i in range(300)])
    async with engine.connect() as conn:
        driver = (await conn.get_raw_connection()).driver_connection
        assert driver is not None
        async with driver.transaction():
            await add_set(driver, [_envelope(i, by_set) for i in range(300)])
            await add_set(driver, [])
        try:
            async with driver.transaction():
                await add_set(driver, [_envelope(i, rolled_back) for i in range(3)])
                raise RuntimeError("the business change failed")
        except RuntimeError:
            pass

    many, written = await _rows(engine, by_many), await _rows(engine, by_set)
    assert len(written) == 300
    assert [{**r, "routing_key": None} for r in written] == [{**r, "routing_key": None} for r in many]
    assert await _rows(engine, rolled_back) == []
