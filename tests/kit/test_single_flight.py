"""Concurrent calls for one key share one call; calls that do not overlap, or for other keys, are their own."""

import asyncio

import pytest

from herald.kit.single_flight import SingleFlight

pytestmark = pytest.mark.fast


class Lookup:
    """A call that waits until released, counting how often it was started."""

    def __init__(self) -> None:
        self.started = 0
        self.release = asyncio.Event()

    async def __call__(self, answer: str = "answer") -> str:
        self.started += 1
        await self.release.wait()
        if answer == "boom":
            raise RuntimeError("lookup failed")
        return answer


async def test_callers_in_flight_together_share_one_call_and_later_ones_make_their_own() -> None:
    flights: SingleFlight[str, str] = SingleFlight()
    lookup = Lookup()
    together = [asyncio.create_task(flights.run("key", lookup)) for _ in range(32)]
    other = asyncio.create_task(flights.run("other key", lookup))
    await asyncio.sleep(0)
    lookup.release.set()
    assert await asyncio.gather(*together, other) == ["answer"] * 33
    assert lookup.started == 2  # one for "key", one for "other key"

    assert await flights.run("key", lookup) == "answer"
    assert lookup.started == 3  # nothing is remembered once a call has ended


async def test_a_failed_call_raises_in_every_caller_that_waited_for_it() -> None:
    flights: SingleFlight[str, str] = SingleFlight()
    lookup = Lookup()
    waiting = [asyncio.create_task(flights.run("key", lambda: lookup("boom"))) for _ in range(3)]
    await asyncio.sleep(0)
    lookup.release.set()
    results = await asyncio.gather(*waiting, return_exceptions=True)
    assert [str(r) for r in results] == ["lookup failed"] * 3
    assert lookup.started == 1


async def test_a_cancelled_caller_leaves_the_call_to_the_others() -> None:
    flights: SingleFlight[str, str] = SingleFlight()
    lookup = Lookup()
    first = asyncio.create_task(flights.run("key", lookup))
    second = asyncio.create_task(flights.run("key", lookup))
    await asyncio.sleep(0)
    first.cancel()  # the caller that started the call goes away (its client hung up)
    await asyncio.sleep(0)
    lookup.release.set()
    assert await second == "answer"
    assert first.cancelled()
    assert lookup.started == 1
