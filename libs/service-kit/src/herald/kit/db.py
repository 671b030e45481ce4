"""PostgreSQL for Herald services: an async engine per service, confined to the service's own schema.

Each service owns one schema (``scheduler``, ``tokens``, ``audit``, ...) and its own Alembic migrations, applied at
start-up by :func:`herald.kit.migrations.upgrade`. Connections use ``search_path`` = that schema, so table names in
the service's models and queries are unqualified.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, text
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.util import await_

from herald.kit.settings import ServiceSettings


def create_engine(
    settings: ServiceSettings, schema: str, *, pool_size: int | None = None, autocommit: bool = False
) -> AsyncEngine:
    """An asyncpg engine whose sessions see ``schema`` first. Open in a lifespan; dispose on shutdown.

    ``autocommit`` is for code that only runs single statements (each atomic on its own): no BEGIN/COMMIT round
    trips. Every checkout first checks that the pooled connection is alive (:func:`_ping_at_checkout`).
    """
    options: dict[str, Any] = {"isolation_level": "AUTOCOMMIT"} if autocommit else {}
    engine = create_async_engine(
        settings.database_url.get_secret_value(),
        **options,
        pool_size=pool_size or settings.db_pool_size,
        max_overflow=0,
        pool_pre_ping=False,  # _ping_at_checkout instead: the same check, one round trip instead of three
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
    event.listen(engine.sync_engine, "checkout", _ping_at_checkout)
    return engine


def _ping_at_checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """Is the pooled connection still alive? A dead one is replaced before the caller gets it.

    SQLAlchemy's ``pool_pre_ping`` does this check on asyncpg inside BEGIN ... ROLLBACK (for pgbouncer's transaction
    mode, which Herald does not use): three round trips on every checkout, i.e. on every transaction. Here it is one.
    Raising ``DisconnectionError`` makes the pool discard the connection and check out another (up to three times).
    """
    try:
        await_(dbapi_connection.driver_connection.fetchrow(";"))
    except Exception as error:
        raise DisconnectionError(f"pooled connection is dead: {type(error).__name__}") from error


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


async def ping(engine: AsyncEngine) -> bool:
    """Readiness probe: can we run a query?"""
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
    return True
