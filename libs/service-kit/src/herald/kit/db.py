"""PostgreSQL for Herald services: an async engine per service, confined to the service's own schema (and a bare
asyncpg pool on that schema, :class:`SchemaPool`, for a hot path of single statements).

Each service owns one schema (``scheduler``, ``tokens``, ``audit``, ...) and its own Alembic migrations, applied at
start-up by :func:`herald.kit.migrations.upgrade`. Connections use ``search_path`` = that schema, so table names in
the service's models and queries are unqualified.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import asyncpg
from sqlalchemy import event, exc, make_url, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from herald.kit.settings import ServiceSettings


def create_engine(
    settings: ServiceSettings, schema: str, *, pool_size: int | None = None, autocommit: bool = False
) -> AsyncEngine:
    """An asyncpg engine whose sessions see ``schema`` first. Open in a lifespan; dispose on shutdown.

    ``autocommit`` is for code that only runs single statements (each atomic on its own): no BEGIN/COMMIT round
    trips. A pooled connection the server has closed is replaced at checkout (:func:`_replace_if_closed`).
    """
    options: dict[str, Any] = {"isolation_level": "AUTOCOMMIT"} if autocommit else {}
    engine = create_async_engine(
        settings.database_url.get_secret_value(),
        **options,
        pool_size=pool_size or settings.db_pool_size,
        max_overflow=0,
        # Errors are logged and raised without their bound parameters: those are user data (post text, names).
        hide_parameters=True,
        connect_args={"server_settings": _server_settings(settings, schema)},
    )
    event.listen(engine.sync_engine, "checkout", _replace_if_closed)
    return engine


def _server_settings(settings: ServiceSettings, schema: str) -> dict[str, str]:
    """What every connection of a service sets on the server: its schema first, and its name."""
    return {
        "search_path": schema,
        "application_name": settings.service_name,
        # The server's own log of a failed statement must not carry its parameters either.
        "log_parameter_max_length_on_error": "0",
    }


class SchemaPool:
    """A bare asyncpg pool confined to ``schema`` like :func:`create_engine`'s connections, for code that runs single
    statements (each atomic on its own) or a transaction it closes itself, and changes no session state: no
    SQLAlchemy checkout or per-execute work.

    Connections are handed out in the order they were asked for. asyncpg's pool (like SQLAlchemy's) waits on an
    ``asyncio.Queue``, where a caller arriving just as a connection comes back takes it ahead of one already
    waiting, which then waits again at the back: with more callers than connections, some wait many times over.
    Scheduling with 32 API clients on 10 connections, that made the p95 three times the p50. A FIFO semaphore of the
    pool's size in front of it keeps asyncpg's queue free of waiters.

    Its statements are planned once per connection (``plan_cache_mode = force_generic_plan``). They bind their rows
    as arrays (``unnest($1::uuid[])``, ``= ANY($1)``), for which PostgreSQL's generic plan assumes 10 rows where a
    plan for the actual values sees one. Once a joined table is large (100,000 content items), that makes the generic
    plan look ten times dearer than a custom one, and the plan cache then plans every execution again: 0.68 against
    0.41 ms of PostgreSQL CPU per scheduling call, measured. The generic plan is the same one (index lookups per
    element), so planning it once loses nothing. It is made with the tables' sizes of its first execution, and does
    not go stale for long: an ``ANALYZE`` (autovacuum's included) invalidates it, and asyncpg prepares a statement
    again after ``max_cached_statement_lifetime`` (300 s by default).

    Nor do they ever scan a table (``enable_seqscan = off``): they look rows up by key. A generic plan made while a
    table is new and empty costs a sequential scan as nothing, and with no ``ANALYZE`` since (autovacuum off, or
    not yet run) it stayed: the publishers' ledger marked each delivery by scanning every row recorded so far, so
    their cost grew with the table (at 100 posts/s, 14 ms of CPU per post over all processes, PostgreSQL 3 of it,
    against 4-5 in a burst). With scans priced out, such a plan uses the key's index from the first execution; a
    statement with no index to use still scans.

    asyncpg binds a pool to the running event loop, so it is opened in the service's lifespan (:meth:`open` as an
    on-start hook, :meth:`close` on stop). A pooled connection the server has closed is replaced at acquire by
    asyncpg itself.
    """

    def __init__(self, settings: ServiceSettings, schema: str, *, size: int | None = None) -> None:
        url = make_url(settings.database_url.get_secret_value()).set(drivername="postgresql")
        self._dsn = url.render_as_string(hide_password=False)
        self._server_settings = {
            **_server_settings(settings, schema),
            "plan_cache_mode": "force_generic_plan",
            "enable_seqscan": "off",
        }
        self._size = size or settings.db_pool_size
        self._pool: Any = None
        self._turns: asyncio.Semaphore  # made by open(), in the loop it will wait in, like the pool
        self._release_hooks: list[Callable[[Any], None]] = []

    async def open(self) -> None:
        self._turns = asyncio.Semaphore(self._size)  # FIFO: a newcomer never passes a waiter (Python >= 3.11.1)
        self._pool = await asyncpg.create_pool(
            self._dsn, min_size=1, max_size=self._size, server_settings=self._server_settings, reset=_keep_session
        )

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    def acquire(self) -> AbstractAsyncContextManager[Any]:
        """``async with pool.acquire() as connection``: an asyncpg connection, returned to the pool on exit."""
        if self._pool is None:
            raise RuntimeError("the pool is not open: open it in the service's lifespan")
        return self._in_turn(self._pool)

    def on_release(self, hook: Callable[[Any], None]) -> None:
        """Call ``hook(connection)`` each time a connection has gone back to the pool (its transaction over)."""
        self._release_hooks.append(hook)

    @asynccontextmanager
    async def _in_turn(self, pool: Any) -> AsyncIterator[Any]:
        async with self._turns:
            connection = None
            try:
                async with pool.acquire() as connection:
                    yield connection
            finally:
                if connection is not None:
                    for hook in self._release_hooks:
                        hook(connection)


async def _keep_session(_connection: Any) -> None:
    """A :class:`SchemaPool` connection is released as it is: its users run single statements and change no session
    state (no ``SET``, ``LISTEN`` or advisory lock), so asyncpg's default reset (``pg_advisory_unlock_all(); CLOSE ALL;
    UNLISTEN *; RESET ALL``), a round trip per release, i.e. per statement, is skipped. asyncpg still rolls back a
    transaction left open before this is called."""


def _replace_if_closed(_dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
    """At checkout, a pooled connection the server has closed (restart, ``pg_terminate_backend``, idle timeout) is
    replaced by a new one before anyone uses it.

    asyncpg marks a connection closed as soon as the event loop reads the server's goodbye, so this costs nothing,
    where SQLAlchemy's ``pool_pre_ping`` costs three round trips per checkout with asyncpg (``BEGIN``, a query,
    ``ROLLBACK``): about a tenth of the CPU of a short API call. A connection that breaks while in use raises as
    it would have anyway, and SQLAlchemy discards it.
    """
    driver = record.driver_connection
    if driver is None or driver.is_closed():
        raise exc.DisconnectionError("the server closed this pooled connection")


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


async def ping(engine: AsyncEngine) -> bool:
    """Readiness probe: can we run a query?"""
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
    return True
