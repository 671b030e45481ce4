"""PostgreSQL LISTEN/NOTIFY wake-ups for background loops that would otherwise only poll.

A loop (the scheduler's due loop) listens on a channel with :class:`PgNotifications` and waits with
:meth:`PgNotifications.wait`: a NOTIFY (delivered when the notifying transaction commits) wakes it at once,
and the timeout is its polling fallback, so a lost connection only costs latency. :func:`wait_first` is the waiting
primitive (the outbox relay's too): whichever of several events comes first, or a timeout.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger(__name__)


class PgNotifications:
    """LISTEN on one PostgreSQL channel and set :attr:`event` on every NOTIFY.

    The connection is opened lazily by :meth:`ensure` and re-opened after it drops; a failure to listen is logged
    and otherwise ignored, because every user of this class also polls.
    """

    def __init__(self, engine: AsyncEngine, channel: str) -> None:
        self._dsn = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self.channel = channel
        self.event = asyncio.Event()
        self._conn: Any = None

    def _on_notify(self, *_args: object) -> None:
        self.event.set()

    async def ensure(self) -> bool:
        """Listen if not already listening; True when listening."""
        if self._conn is not None and not self._conn.is_closed():
            return True
        await self.close()
        try:
            self._conn = await asyncpg.connect(self._dsn, timeout=5)
            await self._conn.add_listener(self.channel, self._on_notify)
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            log.warning("cannot LISTEN, polling only", extra={"channel": self.channel, "error": str(exc)})
            await self.close()
            return False
        # Something may have been committed while we were not listening: check once.
        self.event.set()
        return True

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            try:
                await conn.close(timeout=2)
            except (OSError, asyncpg.PostgresError, TimeoutError):
                conn.terminate()

    async def wait(self, stop: asyncio.Event, seconds: float) -> None:
        """Return when notified, when ``stop`` is set, or after ``seconds``, whichever comes first."""
        await wait_first((self.event, stop), seconds)


async def wait_first(events: Sequence[asyncio.Event], seconds: float) -> None:
    """Return as soon as one of ``events`` is set, or after ``seconds``."""
    waiters = [asyncio.create_task(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=max(seconds, 0.0), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
