"""A delivery at work keeps its distribution's in-flight mark alive (``herald.publishing.lease``), so another
delivery of the same request waits for it instead of reading back and sending a second copy: the renewals on a real
event loop, then a create longer than the grace on the real broker, database and X sandbox."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

import pytest

from herald.publishing.app import build
from herald.publishing.lease import KeptAlive
from tests.publishing.conftest import Stack
from tests.support.eventually import eventually, immediately

SUCCEEDED = "com.herald.publish.succeeded"
RETRY = "com.herald.publish.retry_scheduled"
EVERY = 0.05


class Renewals:
    """A ``renew`` that counts its calls, answers from a script, and fails when told to."""

    def __init__(self, *, until: int | None = None, failures: int = 0) -> None:
        self.calls = 0
        self._until = until
        self._failures = failures

    async def __call__(self) -> bool:
        self.calls += 1
        if self._failures:
            self._failures -= 1
            raise ConnectionError("database unreachable")
        return self._until is None or self.calls < self._until


async def test_a_block_shorter_than_the_interval_renews_nothing() -> None:
    renew = Renewals()
    async with KeptAlive(renew, EVERY):
        await asyncio.sleep(EVERY / 5)
    await asyncio.sleep(EVERY * 3)
    assert renew.calls == 0


async def test_a_long_block_renews_every_interval_and_stops_with_the_block() -> None:
    renew = Renewals()
    began = time.perf_counter()
    async with KeptAlive(renew, EVERY):
        await eventually(immediately(lambda: renew.calls >= 3), what="three renewals")
    assert time.perf_counter() - began >= EVERY * 3  # one per interval, not at once
    after = renew.calls
    await asyncio.sleep(EVERY * 3)
    assert renew.calls == after


async def test_renewals_end_when_the_row_is_no_longer_ours() -> None:
    renew = Renewals(until=2)
    async with KeptAlive(renew, EVERY):
        await eventually(immediately(lambda: renew.calls >= 2), what="two renewals")
        await asyncio.sleep(EVERY * 4)
    assert renew.calls == 2  # the second answered False: no third


async def test_a_failed_renewal_is_logged_and_tried_again_without_failing_the_block(
    caplog: pytest.LogCaptureFixture,
) -> None:
    renew = Renewals(failures=2)
    with caplog.at_level(logging.WARNING, logger="herald.publishing.lease"):
        async with KeptAlive(renew, EVERY):
            await eventually(immediately(lambda: renew.calls >= 3), what="renewals after two failures")
    assert sum("could not renew" in r.getMessage() for r in caplog.records) == 2


async def test_the_blocks_own_error_and_cancellation_go_through() -> None:
    renew = Renewals()

    async def failing() -> None:
        async with KeptAlive(renew, EVERY):
            await asyncio.sleep(EVERY * 1.5)
            raise ValueError("the create failed")

    with pytest.raises(ValueError, match="the create failed"):
        await failing()

    async def slow() -> None:
        async with KeptAlive(renew, EVERY):
            await asyncio.sleep(60)

    task = asyncio.create_task(slow())
    await asyncio.sleep(EVERY * 1.5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    calls = renew.calls
    await asyncio.sleep(EVERY * 3)
    assert renew.calls == calls  # the renewals ended with the cancelled block


CREATE_SECONDS = 3.0
"""Three times the in-flight grace of the test publisher (1 s), within its X timeout here (5 s)."""


@pytest.fixture
async def slow_stack(infra: Stack) -> AsyncIterator[Stack]:
    """``infra`` plus a publisher whose X calls may take longer than its in-flight grace."""
    x = infra.settings.x.model_copy(update={"timeout_seconds": CREATE_SECONDS + 2})
    runtime, _ = build(infra.settings.model_copy(update={"x": x}))
    async with runtime.lifespan():
        yield infra


async def test_a_second_delivery_waits_for_a_create_longer_than_the_grace_and_never_sends(slow_stack: Stack) -> None:
    # RabbitMQ hands a request to another consumer while the first still calls the platform (its channel closed,
    # say); here the second copy comes 0.2 s after the first. The create takes three graces: without renewals the
    # second would read back after one grace, find nothing yet, and send a second create.
    stack = slow_stack
    await stack.arm(kind="latency", latency_ms=int(CREATE_SECONDS * 1000), count=1)
    request = stack.request()
    await stack.send(request)
    await asyncio.sleep(0.2)
    await stack.send(request)
    seen = await stack.outcomes_for(request.distribution_id, SUCCEEDED, timeout=CREATE_SECONDS + 10)
    assert RETRY not in [kind.rsplit(".", 1)[0] for kind, _, _ in seen]  # no read-back, no retry announced
    assert seen[0][1]["reconciled"] is False
    stats = (await stack.sandbox.get("/_sandbox/stats")).json()
    assert stats["create_requests"][stack.sandbox_account] == 1
    assert len([p for p in await stack.posts() if p["text"] == request.text]) == 1
