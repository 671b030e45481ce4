"""PostgreSQL's own count of a table's updates, for tests that show which of them were HOT."""

from __future__ import annotations

import asyncpg

from tests.support.eventually import eventually


async def updates_reported(database_url: str, schema: str, table: str, *, at_least: int) -> tuple[int, int]:
    """``(updates, hot_updates)`` of ``schema.table`` once PostgreSQL reports at least ``at_least`` updates.

    A backend reports its statistics when its transaction ends or it closes, not at once: close the connections
    that did the updates first.
    """
    connection = await asyncpg.connect(database_url.replace("+asyncpg", ""))
    try:

        async def reported() -> tuple[int, int] | None:
            await connection.execute("SELECT pg_stat_clear_snapshot()")
            row = await connection.fetchrow(
                "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE schemaname = $1 AND relname = $2",
                schema,
                table,
            )
            assert row is not None
            return (row["n_tup_upd"], row["n_tup_hot_upd"]) if row["n_tup_upd"] >= at_least else None

        counts = await eventually(reported, within=20, interval=0.2, what=f"the updates of {table} reported")
        assert counts is not None
        return counts
    finally:
        await connection.close()
