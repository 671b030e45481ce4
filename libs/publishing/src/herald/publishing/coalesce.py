"""Group commit: concurrent requests of one kind coalesced into batches, each run as one statement.

While a batch is in flight, new requests wait in a queue; when it returns, the next batch takes everything queued
(up to a cap). There is no timer: a lone request starts at once, and requests only wait for a batch they could not
have joined anyway. Each caller gets its own item's result or exception:

- two items with the same key are never in one batch (one statement cannot update a row twice): the later one
  waits for the next batch, so items of one key run in the order they were submitted;
- when a batch fails, its items are run again one by one, so only the faulty item's caller sees the error (one
  message's bad value must not fail the messages that happened to share its statement);
- a caller cancelled while it waits leaves the others alone: its item is dropped if its batch has not started, or
  its result is discarded if it has (the statement runs for everyone in the batch).

The batches run in a task of their own, so that no caller's cancellation cancels a statement others wait on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

BatchFunction = Callable[[Sequence[Item]], Awaitable[Sequence[Result]]]
"""Runs a batch (distinct keys) and returns one result per item, in the items' order; raises if any item fails."""


class Coalescer(Generic[Item, Result]):
    """Runs :meth:`submit`-ted items through ``run`` in batches of at most ``cap`` items with distinct ``key``\\s.

    ``on_batch`` is told each batch's size (a metric), counting the one-by-one runs after a failed batch too.
    """

    def __init__(
        self,
        run: BatchFunction[Item, Result],
        key: Callable[[Item], Hashable],
        *,
        cap: int = 64,
        on_batch: Callable[[int], None] = lambda _size: None,
    ) -> None:
        if cap < 1:
            raise ValueError("a batch holds at least one item")
        self._run = run
        self._key = key
        self._cap = cap
        self._on_batch = on_batch
        self._queue: list[tuple[Item, asyncio.Future[Result]]] = []
        self._runner: asyncio.Task[None] | None = None

    async def submit(self, item: Item) -> Result:
        """Run ``item`` in the next batch that can take it; its result, or the exception it alone raised."""
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if self._runner is None:
            self._runner = asyncio.create_task(self._drain(), name="coalescer")
        return await future

    async def _drain(self) -> None:
        batch: list[tuple[Item, asyncio.Future[Result]]] = []
        try:
            while batch := self._take():
                await self._settle(batch)
        finally:
            # Normally nothing is left; if this task itself is cancelled (the loop shutting down), no caller waits
            # forever.
            self._runner = None
            for _, future in (*batch, *self._queue):
                future.cancel()
            self._queue.clear()

    def _take(self) -> list[tuple[Item, asyncio.Future[Result]]]:
        """The next batch: queued items of callers still waiting, first come first, one per key, up to the cap."""
        batch: list[tuple[Item, asyncio.Future[Result]]] = []
        keys: set[Hashable] = set()
        kept: list[tuple[Item, asyncio.Future[Result]]] = []
        for item, future in self._queue:
            if future.done():  # its caller was cancelled: drop it
                continue
            key = self._key(item)
            if len(batch) < self._cap and key not in keys:
                keys.add(key)
                batch.append((item, future))
            else:
                kept.append((item, future))
        self._queue = kept
        return batch

    async def _settle(self, batch: Sequence[tuple[Item, asyncio.Future[Result]]]) -> None:
        try:
            results = await self._call([item for item, _ in batch])
        except Exception as error:
            if len(batch) == 1:
                _set_exception(batch[0][1], error)
                return
            for item, future in batch:  # which one is at fault: each on its own
                if future.done():
                    continue
                try:
                    (alone,) = await self._call([item])
                except Exception as own:
                    _set_exception(future, own)
                else:
                    _set_result(future, alone)
            return
        for (_, future), result in zip(batch, results, strict=True):
            _set_result(future, result)

    async def _call(self, items: Sequence[Item]) -> Sequence[Result]:
        self._on_batch(len(items))
        results = await self._run(items)
        if len(results) != len(items):
            raise RuntimeError(f"a batch of {len(items)} items returned {len(results)} results")
        return results


def _set_result(future: asyncio.Future[Result], result: Result) -> None:
    if not future.done():  # a cancelled caller's result is discarded
        future.set_result(result)


def _set_exception(future: asyncio.Future[Result], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)
