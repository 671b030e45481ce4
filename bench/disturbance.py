"""Did anything restart the shared broker or database while a phase ran? (Other work on this machine may.)

A sentinel AMQP connection stays open through each phase: a broker restart (even ``rabbitmqctl stop_app``, which
keeps the node's uptime) closes it. PostgreSQL's ``pg_postmaster_start_time()`` changes when it restarts. A phase
that saw either is marked ``disturbed`` in the results: its figures include an outage and are not comparable.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Awaitable
from typing import Any, TypeVar

import aio_pika
from aio_pika.abc import AbstractConnection

from bench.database import Database

T = TypeVar("T", bound=dict[str, Any])
RECONNECT_SECONDS = 120


class Sentinel:
    def __init__(self, amqp_url: str, db: Database) -> None:
        self._amqp_url = amqp_url
        self._db = db
        self._connection: AbstractConnection | None = None
        self._lost = False
        self._postgres_started: dt.datetime | None = None

    def _on_close(self, *_: Any) -> None:
        self._lost = True

    async def _connect(self) -> AbstractConnection:
        """Connect, waiting up to RECONNECT_SECONDS for a broker that is still coming back."""
        deadline = time.monotonic() + RECONNECT_SECONDS
        while True:
            try:
                return await aio_pika.connect(self._amqp_url, timeout=10)
            except (OSError, aio_pika.exceptions.AMQPError):
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(1)

    async def arm(self) -> None:
        if self._connection is None or self._lost:
            self._lost = False
            self._connection = await self._connect()
            # is_closed only reflects our own close(); a broker-side close runs the close callbacks
            self._connection.close_callbacks.add(self._on_close)
        self._postgres_started = await self._db.value("SELECT pg_postmaster_start_time()")

    async def check(self) -> list[str]:
        """What restarted since :meth:`arm` (empty if nothing did); re-arms for the next phase."""
        found = []
        if self._connection is None or self._lost:
            found.append("RabbitMQ closed the sentinel connection (the broker restarted or stopped)")
        started = await self._db.value("SELECT pg_postmaster_start_time()")
        if started != self._postgres_started:
            found.append(f"PostgreSQL restarted at {started.isoformat()}")
        await self.arm()
        return found

    async def watch(self, phase: Awaitable[T]) -> T:
        """Run a phase; add ``disturbed`` to its result if the broker or the database restarted meanwhile."""
        await self.arm()
        result = await phase
        disturbed = await self.check()
        if disturbed:
            result["disturbed"] = disturbed
        return result

    async def close(self) -> None:
        if self._connection is not None and not self._connection.is_closed:
            self._connection.close_callbacks.discard(self._on_close)
            await self._connection.close()
