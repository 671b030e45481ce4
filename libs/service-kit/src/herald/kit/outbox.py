"""Transactional outbox: events are written in the business transaction and published afterwards by a relay.

A service never publishes an event in the middle of a state change (the commit could fail after the publish, or
the publish after the commit). It writes the event's :class:`~herald.contracts.envelope.AmqpEnvelope` to its own
``outbox`` table in the same transaction as the change, and an :class:`OutboxRelay` publishes the rows afterwards,
with publisher confirms, marking them published in the transaction that claimed them.

Wiring, for a service whose schema is ``scheduler``::

    # models.py: the table belongs to the service's metadata (unqualified: the engine's search_path finds it)
    metadata = MetaData()
    outbox_table = define_outbox(metadata)

    # migrations/versions/0001_initial.py
    from herald.kit.outbox import create_outbox, drop_outbox
    def upgrade() -> None:
        create_outbox(op)          # table and indexes, in the migration's schema

    # use cases: inside the caller's transaction
    async with engine.begin() as conn:
        await conn.execute(update(...))
        await outbox.add(conn, runtime.events.envelope(event))

    # main.py
    relay = OutboxRelay(runtime.engine, runtime.events, runtime.registry)
    runtime.add_background(relay.run)

Guarantees and their limits:

* Every committed row is published at least once; a row whose transaction rolled back never is.
* Several relays (replicas) share the table safely: a batch is claimed with ``FOR UPDATE SKIP LOCKED``, so each
  row is published by one relay, once, unless a relay dies between the broker's confirm and its commit (then the
  batch is published again with the same ``message_id``: consumers deduplicate on the event id).
* There is no global order across relays, and a row that keeps failing (say, unroutable) goes behind the others
  (rows are claimed by fewest attempts first), so it cannot block the table.
* A row is deleted in the transaction that saw its publish confirmed (or, with ``RelaySettings.retention``, marked
  published and pruned once older than that).
* The relay of the process that wrote a row wakes as soon as the writer's connection goes back to its pool, i.e.
  after the transaction ended (:func:`add`, :func:`add_many` and :func:`add_set` mark the connection; a writer
  running :func:`insert_set`'s statement itself calls :func:`mark_written`). Every relay also polls
  (``poll_interval_seconds``), which finds the rows of a replica that died before its relay took them.
  Why not ``NOTIFY``, as before: PostgreSQL signals every listening backend of the database on each ``NOTIFY`` and
  serialises the commits of notifying transactions; at one commit per scheduling call that cost about 0.1 ms of
  PostgreSQL CPU per call (docs/performance.md), for a wake-up no other process needs.

Metrics (on the registry given to the relay): ``herald_outbox_depth`` (rows not yet published),
``herald_outbox_published_total``, ``herald_outbox_publish_failures_total``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge
from sqlalchemy import (
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    Uuid,
    event,
    func,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from herald.contracts.envelope import AmqpEnvelope
from herald.kit.broker import EventPublisher
from herald.kit.db import SchemaPool
from herald.kit.pg_notify import wait_first

log = logging.getLogger(__name__)

DEFAULT_TABLE = "outbox"
_ERROR_LIMIT = 500


def define_outbox(metadata: MetaData, name: str = DEFAULT_TABLE) -> Table:
    """Define the outbox table on ``metadata`` (no schema: the engine's ``search_path`` resolves it).

    ``id`` is the CloudEvents id and the AMQP ``message_id`` (a UUID), so a re-publish is recognisably the same
    event. ``body`` holds the exact bytes to publish; ``headers`` the CloudEvents headers.
    """
    return Table(
        name,
        metadata,
        Column("id", Uuid, primary_key=True),
        Column("exchange", String(255), nullable=False),
        Column("routing_key", String(255), nullable=False),
        Column("message_type", String(255), nullable=False),
        Column("content_type", String(255), nullable=False),
        Column("body", LargeBinary, nullable=False),
        Column("headers", JSONB, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("published_at", DateTime(timezone=True)),
        Column("attempts", Integer, nullable=False, server_default="0"),
        Column("last_error", Text),
        # The relay's claim query: unpublished rows, fewest attempts first, oldest first.
        Index(f"ix_{name}_unpublished", "attempts", "created_at", postgresql_where=text("published_at IS NULL")),
        Index(f"ix_{name}_published", "published_at", postgresql_where=text("published_at IS NOT NULL")),
    )


OUTBOX = define_outbox(MetaData())
"""The default ``outbox`` table, for services that do not keep it on their own metadata."""


def _notify_trigger_ddl(name: str) -> list[str]:
    # The NOTIFY trigger of migrations written before the relay was woken in-process (for downgrades only).
    return [
        f"""
        CREATE OR REPLACE FUNCTION {name}_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify(TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME, '');
            RETURN NULL;
        END
        $$
        """,
        f"CREATE OR REPLACE TRIGGER {name}_notify AFTER INSERT ON {name}"
        f" FOR EACH STATEMENT EXECUTE FUNCTION {name}_notify()",
    ]


def install_outbox(connection: Connection, name: str = DEFAULT_TABLE) -> None:
    """Create the outbox table and its indexes in the connection's current schema (idempotent)."""
    define_outbox(MetaData(), name).create(connection, checkfirst=True)


class MigrationContext(Protocol):
    """What :func:`create_outbox` needs from Alembic: ``alembic.op`` (the module) or an ``Operations``."""

    def get_bind(self) -> Connection: ...


def create_outbox(op: MigrationContext, name: str = DEFAULT_TABLE) -> None:
    """For a service's Alembic migration: ``create_outbox(op)`` in ``upgrade()``.

    Herald migrations run with ``search_path`` set to the service's schema, so everything lands there.
    """
    install_outbox(op.get_bind(), name)


def drop_outbox(op: MigrationContext, name: str = DEFAULT_TABLE) -> None:
    """For a service's Alembic migration: ``drop_outbox(op)`` in ``downgrade()``."""
    connection = op.get_bind()
    connection.execute(text(f"DROP TABLE IF EXISTS {name}"))
    connection.execute(text(f"DROP FUNCTION IF EXISTS {name}_notify()"))


def drop_notify_trigger(op: MigrationContext, name: str = DEFAULT_TABLE) -> None:
    """For the migration that removes the ``NOTIFY`` trigger earlier outboxes were created with (idempotent): the
    relay of the writing process is woken in-process now (the module's docstring says why). Dropping a trigger takes
    a brief lock on the table. During a rolling upgrade, replicas of the earlier version, whose relays waited for the
    NOTIFY, relay their own rows at their poll interval (1 s by default) once this has run."""
    connection = op.get_bind()
    connection.execute(text(f"DROP TRIGGER IF EXISTS {name}_notify ON {name}"))
    connection.execute(text(f"DROP FUNCTION IF EXISTS {name}_notify()"))


def restore_notify_trigger(op: MigrationContext, name: str = DEFAULT_TABLE) -> None:
    """The downgrade of :func:`drop_notify_trigger`: the trigger the relay of earlier versions listened for."""
    connection = op.get_bind()
    for ddl in _notify_trigger_ddl(name):
        connection.execute(text(ddl))


_written: set[int] = set()
"""``id`` of each driver connection that wrote outbox rows since it last went back to its pool. A plain set of ids
(asyncpg's pool proxies take no weak references): an entry leaves when its connection is handed back."""


def mark_written(connection: Any) -> None:
    """Record that ``connection`` (the bare asyncpg connection, as a :class:`~herald.kit.db.SchemaPool` hands it out
    or under a SQLAlchemy connection) wrote outbox rows: the relay watching its pool wakes once it goes back, after
    its transaction. :func:`add`, :func:`add_many` and :func:`add_set` call it; a writer that runs
    :func:`insert_set`'s statement itself must."""
    _written.add(id(connection))


def _handed_back(connection: Any) -> bool:
    """Whether ``connection``, just handed back to its pool, had written outbox rows (and forget it)."""
    try:
        _written.remove(id(connection))
    except KeyError:
        return False
    return True


async def add(
    conn_or_session: AsyncConnection | AsyncSession, envelope: AmqpEnvelope, *, table: Table = OUTBOX
) -> None:
    """Write ``envelope`` to the outbox inside the caller's transaction (an ``AsyncConnection`` or ``AsyncSession``).

    ``envelope.message_id`` must be a UUID (``EventPublisher.envelope`` makes one).
    """
    await add_many(conn_or_session, [envelope], table=table)


async def add_many(
    conn_or_session: AsyncConnection | AsyncSession, envelopes: Sequence[AmqpEnvelope], *, table: Table = OUTBOX
) -> None:
    """Like :func:`add` for several envelopes, in one statement."""
    if not envelopes:
        return
    await conn_or_session.execute(table.insert(), [_row(envelope) for envelope in envelopes])
    connection = await conn_or_session.connection() if isinstance(conn_or_session, AsyncSession) else conn_or_session
    mark_written((await connection.get_raw_connection()).driver_connection)


async def add_set(connection: Any, envelopes: Sequence[AmqpEnvelope], *, table: Table = OUTBOX) -> None:
    """Like :func:`add_many` on a bare asyncpg connection, inside the transaction open on it: one
    ``INSERT ... SELECT FROM unnest(...)`` binding one array per column, so writing a thousand events costs one
    statement and one round trip (set-based writers such as bulk scheduling)."""
    if not envelopes:
        return
    statement, arguments = insert_set(envelopes, table=table)
    await connection.execute(statement, *arguments)
    mark_written(connection)


def insert_set(
    envelopes: Sequence[AmqpEnvelope], *, table: Table = OUTBOX, first_parameter: int = 1
) -> tuple[str, list[Any]]:
    """The statement :func:`add_set` runs and its arguments, numbered from ``$first_parameter``: for a writer that
    folds it into its own statement (a data-modifying ``WITH``) and so saves a round trip per transaction. Such a
    writer calls :func:`mark_written` on its connection, or its rows wait for the relay's next poll."""
    columns: tuple[list[Any], ...] = ([], [], [], [], [], [], [])
    ids, exchanges, keys, types, content_types, bodies, headers = columns
    for envelope in envelopes:
        ids.append(uuid.UUID(envelope.message_id))
        exchanges.append(envelope.exchange)
        keys.append(envelope.routing_key)
        types.append(envelope.type)
        content_types.append(envelope.content_type)
        bodies.append(envelope.body)
        headers.append(json.dumps(dict(envelope.headers)))
    kinds = ("uuid", "text", "text", "text", "text", "bytea", "text")
    arrays = ", ".join(f"${first_parameter + i}::{kind}[]" for i, kind in enumerate(kinds))
    statement = (
        f"INSERT INTO {table.name} (id, exchange, routing_key, message_type, content_type, body, headers)"  # noqa: S608 - our table name
        f" SELECT i, e, k, t, c, b, h::jsonb FROM unnest({arrays}) AS u(i, e, k, t, c, b, h)"
    )
    return statement, list(columns)


def _row(envelope: AmqpEnvelope) -> dict[str, Any]:
    return {
        "id": uuid.UUID(envelope.message_id),
        "exchange": envelope.exchange,
        "routing_key": envelope.routing_key,
        "message_type": envelope.type,
        "content_type": envelope.content_type,
        "body": envelope.body,
        "headers": dict(envelope.headers),
    }


def _envelope_of(record: Any) -> AmqpEnvelope:
    """An outbox row read by asyncpg (``headers`` as JSON text) as the envelope to publish."""
    return AmqpEnvelope(
        exchange=record["exchange"],
        routing_key=record["routing_key"],
        body=bytes(record["body"]),
        headers=json.loads(record["headers"]),
        message_id=str(record["id"]),
        content_type=record["content_type"],
        type=record["message_type"],
    )


@dataclass(frozen=True)
class RelaySettings:
    """Tuning of an :class:`OutboxRelay`. The defaults suit production; tests shorten the intervals."""

    batch_size: int = 500
    """Rows claimed (and locked) per transaction."""
    window: int = 100
    """Publishes whose confirms are awaited together."""
    poll_interval_seconds: float = 1.0
    """How often the relay looks for rows no writer of its own process woke it for (another replica's, left when it
    died)."""
    linger_seconds: float = 0.005
    """After a writer wakes the relay, how long it waits before claiming: one cycle then takes the rows of the
    commits right behind the one that woke it (one claim, one confirm window and one update for all of them instead
    of a cycle each, e.g. under many concurrent single creates), for at most this much added latency per event."""
    depth_interval_seconds: float = 1.0
    """How often ``herald_outbox_depth`` is recounted (a count per cycle would cost as much as the cycle)."""
    max_backoff_seconds: float = 30.0
    """Longest wait between attempts while the broker keeps failing."""
    batch_timeout_seconds: float = 60.0
    """Bound on one batch's publishing, so a blocked broker cannot hold the row locks for ever."""
    retention: dt.timedelta = field(default_factory=dt.timedelta)
    """How long published rows are kept (for diagnosis) before they are pruned. Zero (the default): a row is deleted
    in the transaction that saw its publish confirmed. Why: marking it instead rewrote the row and every index entry
    of it (the "published" index included) and left it for the prune, about four more WAL records per event than a
    delete; the audit log keeps every event anyway."""
    prune_interval_seconds: float = 600.0
    """How often published rows older than ``retention`` are deleted (with no retention: rows left marked by an
    earlier version or setting; the query finds none through the partial "published" index otherwise)."""


@dataclass(frozen=True)
class RelayResult:
    """What one :meth:`OutboxRelay.relay_once` did."""

    claimed: int = 0
    published: int = 0
    failed: int = 0


class _Metrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.depth = Gauge("herald_outbox_depth", "Outbox rows not yet published.", registry=registry)
        self.published = Counter(
            "herald_outbox_published_total", "Outbox rows published and confirmed by the broker.", registry=registry
        )
        self.failures = Counter(
            "herald_outbox_publish_failures_total", "Outbox publishes that failed (to be retried).", registry=registry
        )


class OutboxRelay:
    """Publishes an outbox with confirms; a background loop for ``ServiceRuntime.add_background``.

    It is woken by the connections of ``engine`` (and of each pool given to :meth:`watch`) that wrote outbox rows,
    when they go back to their pool, and polls for the rest."""

    def __init__(
        self,
        engine: AsyncEngine,
        publisher: EventPublisher,
        registry: CollectorRegistry,
        *,
        table: Table = OUTBOX,
        settings: RelaySettings | None = None,
    ) -> None:
        self._engine = engine
        self._publisher = publisher
        self._table = table
        self.settings = settings or RelaySettings()
        self._metrics = _Metrics(registry)
        self._woken = asyncio.Event()
        event.listen(engine.sync_engine, "checkin", self._checked_in)

    def watch(self, pool: SchemaPool) -> None:
        """Also wake for the outbox rows written through ``pool``'s connections (as :func:`mark_written` says)."""
        pool.on_release(self._released)

    def _checked_in(self, dbapi_connection: Any, _record: Any) -> None:
        if dbapi_connection is not None:  # None: the pool discarded an invalidated connection
            self._released(dbapi_connection.driver_connection)

    def _released(self, connection: Any) -> None:
        if _handed_back(connection):
            self._woken.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Relay until ``stop`` is set: woken by this process's writers, polling as well, backing off while
        failing."""
        failures = 0
        next_prune = time.monotonic() + self.settings.prune_interval_seconds
        next_count = time.monotonic()
        while not stop.is_set():
            self._woken.clear()
            result = await self._cycle()
            if time.monotonic() >= next_count:
                await self.refresh_depth()
                next_count = time.monotonic() + self.settings.depth_interval_seconds
            if time.monotonic() >= next_prune:
                await self._prune_quietly()
                next_prune = time.monotonic() + self.settings.prune_interval_seconds
            if result is not None and not result.failed and result.claimed >= self.settings.batch_size:
                continue  # a full batch: there is probably more, go on at once
            failures = 0 if result is not None and not result.failed else failures + 1
            if failures:
                # While the broker fails, ignore the writers: they would turn the back-off into a hot loop.
                await wait_first((stop,), self._backoff(failures))
            else:
                await wait_first((stop, self._woken), self.settings.poll_interval_seconds)
                if self.settings.linger_seconds > 0 and self._woken.is_set():  # woken, not polling
                    await wait_first((stop,), self.settings.linger_seconds)

    def _backoff(self, failures: int) -> float:
        delay: float = self.settings.poll_interval_seconds * 2.0 ** min(failures, 16)
        return min(delay, self.settings.max_backoff_seconds)

    async def _cycle(self) -> RelayResult | None:
        try:
            return await self.relay_once()
        except Exception:  # the database or the broker is down: back off and try again
            log.exception("outbox relay cycle failed")
            return None

    async def relay_once(self) -> RelayResult:
        """Claim one batch, publish it with confirms and mark what was confirmed, in one transaction.

        On the bare asyncpg connection under a pooled one: three prepared statements per batch at most, and no
        SQLAlchemy row processing per event (the relay handles every event a service emits)."""
        name = self._table.name
        async with self._engine.connect() as conn:
            raw = await conn.get_raw_connection()
            db: Any = raw.driver_connection
            async with db.transaction():
                rows = await db.fetch(
                    f"SELECT id, exchange, routing_key, message_type, content_type, body, headers::text AS headers"  # noqa: S608 - our table name
                    f" FROM {name} WHERE published_at IS NULL ORDER BY attempts, created_at LIMIT $1"
                    " FOR UPDATE SKIP LOCKED",
                    self.settings.batch_size,
                )
                if not rows:
                    return RelayResult()
                async with asyncio.timeout(self.settings.batch_timeout_seconds):
                    published, failed = await self._publish([_envelope_of(row) for row in rows])
                await self._mark(db, published, failed)
        self._metrics.published.inc(len(published))
        self._metrics.failures.inc(len(failed))
        if failed:
            log.warning("outbox publishes failed", extra={"failed": len(failed), "published": len(published)})
        return RelayResult(claimed=len(rows), published=len(published), failed=len(failed))

    async def _publish(self, envelopes: list[AmqpEnvelope]) -> tuple[list[uuid.UUID], dict[uuid.UUID, str]]:
        published: list[uuid.UUID] = []
        failed: dict[uuid.UUID, str] = {}
        window = self.settings.window
        for start in range(0, len(envelopes), window):
            chunk = envelopes[start : start + window]
            outcomes = await asyncio.gather(
                *(self._publisher.publish_envelope(e) for e in chunk), return_exceptions=True
            )
            for envelope, outcome in zip(chunk, outcomes, strict=True):
                if isinstance(outcome, BaseException):
                    failed[uuid.UUID(envelope.message_id)] = str(outcome)[:_ERROR_LIMIT]
                else:
                    published.append(uuid.UUID(envelope.message_id))
            if failed and all(isinstance(o, BaseException) for o in outcomes):
                break  # the whole window failed: the broker is down, leave the rest of the batch untried
        return published, failed

    async def _mark(self, db: Any, published: list[uuid.UUID], failed: dict[uuid.UUID, str]) -> None:
        name = self._table.name
        if published and not self.settings.retention:
            await db.execute(f"DELETE FROM {name} WHERE id = ANY($1::uuid[])", published)  # noqa: S608 - our table name
        elif published:
            await db.execute(
                f"UPDATE {name} SET published_at = clock_timestamp() WHERE id = ANY($1::uuid[])",  # noqa: S608 - our table name
                published,
            )
        if failed:
            await db.execute(
                f"UPDATE {name} AS o SET attempts = o.attempts + 1, last_error = u.error"  # noqa: S608 - our table name
                " FROM unnest($1::uuid[], $2::text[]) AS u(id, error) WHERE o.id = u.id",
                list(failed),
                list(failed.values()),
            )

    async def refresh_depth(self) -> int | None:
        """Count the unpublished rows into ``herald_outbox_depth``; None if the database did not answer."""
        table = self._table
        unpublished = select(func.count()).select_from(table).where(table.c.published_at.is_(None))
        try:
            async with self._engine.connect() as conn:
                depth = int((await conn.execute(unpublished)).scalar_one())
        except Exception:
            log.warning("cannot count the outbox", exc_info=True)
            return None
        self._metrics.depth.set(depth)
        return depth

    async def prune(self, older_than: dt.timedelta | None = None) -> int:
        """Delete published rows older than ``older_than`` (default: the retention). Returns how many."""
        table = self._table
        cutoff = func.now() - (self.settings.retention if older_than is None else older_than)
        async with self._engine.begin() as conn:
            result = await conn.execute(
                table.delete().where(table.c.published_at.is_not(None), table.c.published_at <= cutoff)
            )
        return int(result.rowcount)

    async def _prune_quietly(self) -> None:
        try:
            pruned = await self.prune()
        except Exception:
            log.warning("outbox prune failed", exc_info=True)
            return
        if pruned:
            log.info("outbox pruned", extra={"rows": pruned})
