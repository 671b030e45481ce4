"""Wait for something to become true, instead of sleeping and hoping: the one polling loop of the tests.

``await eventually(probe)`` calls ``probe`` until it returns a truthy value, and returns that value. An
``AssertionError`` raised by the probe (or an exception listed in ``ignoring``) means "not yet". When ``within``
seconds have passed, it fails with the last assertion (or a message saying what was awaited and what the probe last
returned), so a slow machine makes a test slower, never wrong.

"Nothing (else) arrived" is never proven by sleeping: send a marker behind the thing under test through the same
path and wait for the marker with ``eventually``; whatever was going to arrive before it has arrived by then.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

WITHIN_SECONDS = 30.0
INTERVAL_SECONDS = 0.05
PROCESS_READY_SECONDS = 90.0
"""For a process a test starts: it imports its service and migrates, tens of seconds on a loaded machine (below the
120 s a test may take)."""


async def eventually(
    probe: Callable[[], Awaitable[T]],
    *,
    within: float = WITHIN_SECONDS,
    interval: float = INTERVAL_SECONDS,
    ignoring: tuple[type[Exception], ...] = (),
    what: str = "",
) -> T:
    """``probe()``'s first truthy result; fails after ``within`` seconds with what was awaited and last seen."""
    deadline = time.monotonic() + within
    while True:
        failure: BaseException | None = None
        try:
            result = await probe()
        except AssertionError as error:
            failure = error
        except ignoring as error:
            failure = error
        else:
            if result:
                return result
        if time.monotonic() > deadline:
            if isinstance(failure, AssertionError):
                raise failure
            last = repr(failure) if failure is not None else repr(result)
            raise AssertionError(f"not {what or 'true'} within {within:g} s (last: {last})") from failure
        await asyncio.sleep(interval)


def immediately(value: Callable[[], T]) -> Callable[[], Awaitable[T]]:
    """A synchronous check as a probe: ``eventually(immediately(lambda: path.exists()))``."""

    async def probe() -> T:
        return value()

    return probe
