"""The group-commit mechanism on its own: batches, keys, failures and cancellations, with a scripted batch function."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from herald.publishing.coalesce import Coalescer

pytestmark = pytest.mark.fast

BAD = -1
"""An item the batch function refuses (as PostgreSQL refuses a value): any batch holding it fails."""


class Statements:
    """A batch function that records each batch, refuses :data:`BAD`, and holds a batch while ``gate`` is closed."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.sizes: list[int] = []
        self.started = asyncio.Event()
        self.gate = asyncio.Event()
        self.gate.set()

    async def run(self, items: Sequence[int]) -> list[str]:
        self.batches.append(list(items))
        self.started.set()
        await self.gate.wait()
        if BAD in items:
            raise ValueError("refused")
        return [f"done {item}" for item in items]

    def coalescer(self, cap: int = 64) -> Coalescer[int, str]:
        return Coalescer(self.run, key=abs, cap=cap, on_batch=self.sizes.append)


async def held_first(statements: Statements, coalescer: Coalescer[int, str], first: int) -> asyncio.Task[str]:
    """Submit ``first`` and return once its batch is in flight (held at the gate)."""
    statements.gate.clear()
    task = asyncio.create_task(coalescer.submit(first))
    await statements.started.wait()
    return task


async def queued(coalescer: Coalescer[int, str], items: Sequence[int]) -> list[asyncio.Task[str]]:
    """Submit ``items`` and return once each is queued."""
    tasks = [asyncio.create_task(coalescer.submit(item)) for item in items]
    await asyncio.sleep(0)  # each task runs up to its wait for a result
    return tasks


async def test_a_lone_request_runs_at_once_on_its_own() -> None:
    statements = Statements()
    assert await statements.coalescer().submit(7) == "done 7"
    assert statements.batches == [[7]]


async def test_requests_made_while_a_batch_is_in_flight_share_the_next_one() -> None:
    statements = Statements()
    coalescer = statements.coalescer()
    first = await held_first(statements, coalescer, 1)
    rest = await queued(coalescer, [2, 3, 4, 5])
    statements.gate.set()
    assert await asyncio.gather(first, *rest) == ["done 1", "done 2", "done 3", "done 4", "done 5"]
    assert statements.batches == [[1], [2, 3, 4, 5]]
    assert statements.sizes == [1, 4]


async def test_a_batch_takes_at_most_the_cap() -> None:
    statements = Statements()
    coalescer = statements.coalescer(cap=2)
    first = await held_first(statements, coalescer, 1)
    rest = await queued(coalescer, [2, 3, 4, 5, 6])
    statements.gate.set()
    await asyncio.gather(first, *rest)
    assert statements.batches == [[1], [2, 3], [4, 5], [6]]


async def test_two_requests_with_one_key_are_never_in_one_batch_and_keep_their_order() -> None:
    statements = Statements()
    coalescer = statements.coalescer()
    first = await held_first(statements, coalescer, 1)
    rest = await queued(coalescer, [2, -2, 3, 2, 1])  # abs is the key: 2, -2 and 2 are one key
    statements.gate.set()
    assert await asyncio.gather(first, *rest) == ["done 1", "done 2", "done -2", "done 3", "done 2", "done 1"]
    assert statements.batches == [[1], [2, 3, 1], [-2], [2]]


async def test_when_a_batch_fails_only_the_faulty_items_caller_gets_the_error() -> None:
    statements = Statements()
    coalescer = statements.coalescer()
    first = await held_first(statements, coalescer, 1)
    rest = await queued(coalescer, [2, BAD, 3])
    statements.gate.set()
    results = await asyncio.gather(first, *rest, return_exceptions=True)
    assert results[:2] == ["done 1", "done 2"]
    assert isinstance(results[2], ValueError)
    assert results[3] == "done 3"
    assert statements.batches == [[1], [2, BAD, 3], [2], [BAD], [3]]
    assert statements.sizes == [1, 3, 1, 1, 1]


async def test_a_lone_failure_is_not_run_twice() -> None:
    statements = Statements()
    with pytest.raises(ValueError, match="refused"):
        await statements.coalescer().submit(BAD)
    assert statements.batches == [[BAD]]


async def test_a_caller_cancelled_while_queued_is_dropped_and_the_others_are_served() -> None:
    statements = Statements()
    coalescer = statements.coalescer()
    first = await held_first(statements, coalescer, 1)
    kept, dropped, also = await queued(coalescer, [2, 3, 4])
    dropped.cancel()
    statements.gate.set()
    assert list(await asyncio.gather(first, kept, also)) == ["done 1", "done 2", "done 4"]
    with pytest.raises(asyncio.CancelledError):
        await dropped
    assert statements.batches == [[1], [2, 4]]


async def test_a_caller_cancelled_while_its_batch_is_in_flight_does_not_cancel_the_statement() -> None:
    statements = Statements()
    coalescer = statements.coalescer()
    statements.gate.clear()
    cancelled, kept = await queued(coalescer, [2, 3])
    await statements.started.wait()  # both are in the batch held at the gate
    cancelled.cancel()
    statements.gate.set()
    assert await kept == "done 3"
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert statements.batches == [[2, 3]]
    assert await coalescer.submit(5) == "done 5"  # and the coalescer goes on


def test_a_batch_holds_at_least_one_item() -> None:
    with pytest.raises(ValueError, match="at least one"):
        Coalescer(Statements().run, key=abs, cap=0)
