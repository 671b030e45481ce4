"""SQL for the audit log: batched idempotent inserts, team-scoped reads, and partition DDL.

Every read and write of audit rows runs as :data:`~herald.audit.models.WRITER_ROLE` (``SET LOCAL ROLE`` inside the
transaction), a role that may only INSERT and SELECT: the service cannot change or delete a row even if its code
tried. Partition DDL (create ahead, drop expired) runs as the connecting role, which owns the table.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import uuid
import zlib
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any, Final

import asyncpg
from sqlalchemy import ColumnElement, Row, and_, bindparam, select, text, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from herald.audit.models import WRITER_ROLE, AuditRecord, Entity, StoredRecord, events
from herald.audit.partitions import PARENT_TABLE, Month
from herald.kit.db import SchemaPool

_PARTITION_LOCK: Final = zlib.crc32(b"herald.audit.partitions")
# SQLSTATE classes that mean "this data", not "this connection": 22 data exception, 23 integrity violation.
_ROW_ERROR_CLASSES: Final = ("22", "23")


class RowsRejected(Exception):
    """PostgreSQL refused the rows themselves (bad data), so retrying them unchanged cannot succeed."""


@dataclasses.dataclass(frozen=True)
class EventFilter:
    """Optional filters of the query API; all given ones must match."""

    entity_id: str | None = None
    action: str | None = None
    platform: str | None = None
    since: dt.datetime | None = None
    """Inclusive lower bound on ``occurred_at``."""
    until: dt.datetime | None = None
    """Exclusive upper bound on ``occurred_at``."""


@dataclasses.dataclass(frozen=True)
class Position:
    """A keyset position: the sort key of the last row of a page."""

    occurred_at: dt.datetime
    event_id: str


_COLUMNS: Final = (
    "event_id",
    "occurred_at",
    "event_type",
    "source",
    "team_id",
    "actor",
    "action",
    "entity",
    "entity_id",
    "platform",
    "correlation_id",
    "metadata",
)
_INSERT: Final = (
    "INSERT INTO events (recorded_at, event_id, occurred_at, event_type, source, team_id, actor, action, entity,"
    " entity_id, platform, correlation_id, metadata)"
    " SELECT $1::timestamptz, r.event_id, r.occurred_at, r.event_type, r.source, r.team_id,"
    " r.actor, r.action, r.entity, r.entity_id, r.platform, r.correlation_id, r.metadata::jsonb"
    " FROM unnest($2::text[], $3::timestamptz[], $4::text[], $5::text[], $6::uuid[], $7::text[], $8::text[],"
    " $9::text[], $10::text[], $11::text[], $12::text[], $13::text[])"
    " AS r(event_id, occurred_at, event_type, source, team_id, actor, action, entity, entity_id, platform,"
    " correlation_id, metadata)"
    " ON CONFLICT (event_id, occurred_at) DO NOTHING RETURNING event_id"
)
"""One prepared statement for any batch: the time it is recorded, then a column array per column of ``_COLUMNS``
(``metadata`` as JSON text)."""


def _row_values(record: AuditRecord) -> tuple[Any, ...]:
    return (
        record.event_id,
        record.occurred_at,
        record.event_type,
        record.source,
        record.team_id,
        record.actor,
        record.action.value,
        record.entity.value,
        record.entity_id,
        record.platform,
        record.correlation_id,
        json.dumps(record.metadata, separators=(",", ":")),
    )


def _row(row: Row[Any]) -> StoredRecord:
    return StoredRecord(**row._asdict())


class AuditRepository:
    """The ``audit.events`` table, on the service's engine (whose ``search_path`` is the ``audit`` schema).

    Batches are inserted on ``pool``, bare asyncpg connections on the same schema: SQLAlchemy's checkout and
    per-execute work were 40% of a batch's CPU (2.15 against 1.3 ms for twelve rows on the 2-core bench
    machine), and a burst's batches hold a dozen events. Queries and partition DDL stay on the engine.
    """

    def __init__(self, engine: AsyncEngine, pool: SchemaPool, *, role: str = WRITER_ROLE) -> None:
        self._engine = engine
        self._pool = pool
        self._role = role
        # Months whose partition this process has seen exist: a batch checks the catalogue only for a month not in
        # here. A partition dropped behind our back (retention on another replica) surfaces as a refused row, which
        # clears this cache, so the row-by-row retry re-checks and recreates it.
        self._known_months: set[Month] = set()

    @asynccontextmanager
    async def as_writer(self) -> AsyncIterator[AsyncConnection]:
        """A transaction restricted to INSERT and SELECT on audit rows (the only way the service touches them)."""
        async with self._engine.begin() as conn:
            await conn.execute(text(f'SET LOCAL ROLE "{self._role}"'))
            yield conn

    async def insert(self, records: Sequence[AuditRecord], recorded_at: dt.datetime) -> set[str]:
        """Insert ``records`` in one set-based statement, skipping event ids already stored; return the ids inserted.

        The rows travel as one array per column (``unnest``), so the statement is the same prepared one whatever the
        batch size, and nothing is compiled per batch. Raises :class:`RowsRejected` when PostgreSQL refuses the
        data; any other error (connection lost, timeout) propagates unchanged and means "try again later".
        """
        if not records:
            return set()
        unknown = {Month.of(r.occurred_at) for r in records} - self._known_months
        if unknown:
            # Its own transaction, committed first: a partition made for a batch that then fails is one month's
            # partition made ahead, as maintenance does anyway.
            await self.ensure_partitions(unknown)
            self._known_months |= unknown
        # Rows to column arrays in one transposition (C loops), not a Python append per value.
        columns = map(list, zip(*map(_row_values, records), strict=True))
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                await conn.execute(f'SET LOCAL ROLE "{self._role}"')
                rows = await conn.fetch(_INSERT, recorded_at, *columns)
        except Exception as error:
            self._known_months.clear()
            if isinstance(error, asyncpg.PostgresError) and str(error.sqlstate or "").startswith(_ROW_ERROR_CLASSES):
                # First line only: PostgreSQL's DETAIL repeats the whole row, which is no reason text.
                raise RowsRejected(str(error).splitlines()[0]) from error
            raise
        return {row[0] for row in rows}

    async def page(
        self,
        team_id: uuid.UUID,
        filters: EventFilter,
        *,
        after: Position | None,
        limit: int,
        descending: bool,
    ) -> list[StoredRecord]:
        """One page of the team's rows in ``(occurred_at, event_id)`` order, starting after ``after``."""
        conditions = [events.c.team_id == team_id, *self._conditions(filters)]
        key = tuple_(events.c.occurred_at, events.c.event_id)
        if after is not None:
            position = tuple_(bindparam("after_at", after.occurred_at), bindparam("after_id", after.event_id))
            conditions.append(key < position if descending else key > position)
        columns = (events.c.occurred_at, events.c.event_id)
        order = [column.desc() if descending else column.asc() for column in columns]
        query = select(events).where(and_(*conditions)).order_by(*order).limit(limit)
        async with self.as_writer() as conn:
            return [_row(row) for row in await conn.execute(query)]

    async def timeline(self, team_id: uuid.UUID, distribution_id: uuid.UUID, *, limit: int) -> list[StoredRecord]:
        """Every row about one distribution of the team, oldest first."""
        query = (
            select(events)
            .where(
                events.c.team_id == team_id,
                events.c.entity == Entity.CONTENT_DISTRIBUTION.value,
                events.c.entity_id == str(distribution_id),
            )
            .order_by(events.c.occurred_at, events.c.event_id)
            .limit(limit)
        )
        async with self.as_writer() as conn:
            return [_row(row) for row in await conn.execute(query)]

    @staticmethod
    def _conditions(filters: EventFilter) -> list[ColumnElement[bool]]:
        conditions: list[ColumnElement[bool]] = []
        if filters.entity_id is not None:
            conditions.append(events.c.entity_id == filters.entity_id)
        if filters.action is not None:
            conditions.append(events.c.action == filters.action)
        if filters.platform is not None:
            conditions.append(events.c.platform == filters.platform)
        if filters.since is not None:
            conditions.append(events.c.occurred_at >= filters.since)
        if filters.until is not None:
            conditions.append(events.c.occurred_at < filters.until)
        return conditions

    # Partitions (DDL as the table owner, never as the writer role).

    async def ensure_partitions(self, months: Iterable[Month]) -> list[Month]:
        """Create the partitions of ``months`` that do not exist yet; return the ones created."""
        async with self._engine.begin() as conn:
            return await self._ensure_partitions(conn, set(months))

    async def partitions(self) -> list[Month]:
        """The monthly partitions that exist, oldest first."""
        query = text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = to_regclass(:parent)"
        )
        async with self._engine.connect() as conn:
            names = (await conn.execute(query, {"parent": PARENT_TABLE})).scalars().all()
        return sorted(month for name in names if (month := Month.from_table_name(name)) is not None)

    async def drop_partition(self, month: Month) -> None:
        """Drop one month's partition with its rows (retention; DROP fires no row trigger, by design)."""
        async with self._engine.begin() as conn:
            await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PARTITION_LOCK})
            await conn.execute(text(f'DROP TABLE IF EXISTS "{month.table_name}"'))
        self._known_months.discard(month)

    @staticmethod
    async def _ensure_partitions(conn: AsyncConnection, months: set[Month]) -> list[Month]:
        by_name = {month.table_name: month for month in months}
        missing_query = text("SELECT name FROM unnest(CAST(:names AS text[])) AS name WHERE to_regclass(name) IS NULL")
        missing = (await conn.execute(missing_query, {"names": list(by_name)})).scalars().all()
        if not missing:
            return []
        # Replicas may race to create the same month; the lock makes IF NOT EXISTS reliable.
        await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PARTITION_LOCK})
        created = []
        for name in missing:
            month = by_name[name]
            await conn.execute(
                text(
                    f'CREATE TABLE IF NOT EXISTS "{name}" PARTITION OF {PARENT_TABLE}'
                    f" FOR VALUES FROM ('{month.lower_bound}') TO ('{month.upper_bound}')"
                )
            )
            created.append(month)
        return created
