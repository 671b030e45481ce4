"""Concurrent calls for the same key share one call: the first starts it, the others wait for its answer.

A cache entry that expires under load is asked for by every request in flight at that moment (32 API clients, 32
concurrent deliveries): without this, each of them makes its own lookup at once, a thundering herd that stalls them
all behind the database or the service it asks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from functools import partial
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SingleFlight(Generic[K, V]):
    """One call in flight per key. A caller cancelled while waiting does not cancel the call the others wait for;
    a call that raises raises in every caller that waited for it. Nothing is remembered once a call has ended."""

    def __init__(self) -> None:
        self._flights: dict[K, asyncio.Future[V]] = {}

    async def run(self, key: K, call: Callable[[], Awaitable[V]]) -> V:
        """``call()``'s answer, from the call already in flight for ``key`` if there is one."""
        flight = self._flights.get(key)
        if flight is None:
            flight = self._flights[key] = asyncio.ensure_future(call())
            flight.add_done_callback(partial(self._landed, key))
        return await asyncio.shield(flight)

    def _landed(self, key: K, flight: asyncio.Future[V]) -> None:
        if self._flights.get(key) is flight:
            del self._flights[key]
        if not flight.cancelled():
            flight.exception()  # retrieved here: a failure whose callers were all cancelled is not logged as lost
