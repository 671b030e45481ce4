"""PostgreSQL for Herald services: an async engine per service, confined to the service's own schema.

Each service owns one schema (``scheduler``, ``tokens``, ``audit``, ...) and its own Alembic migrations, applied at
start-up by :func:`herald.kit.migrations.upgrade`. Connections use ``search_path`` = that schema, so table names in
the service's models and queries are unqualified.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, exc, text
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
        connect_args={
            "server_settings": {
                "search_path": schema,
                "application_name": settings.service_name,
                # The server's own log of a failed statement must not carry its parameters either.
                "log_parameter_max_length_on_error": "0",
            }
        },
    )
    event.listen(engine.sync_engine, "checkout", _replace_if_closed)
    return engine


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
