"""Signs of life from the delivery at work on a distribution in flight.

The ledger marks a distribution ``sending`` while a delivery calls the platform. Another delivery of the same request
can come meanwhile: RabbitMQ requeues a consumer's unacknowledged messages when its channel closes, while the first
handler may still be running, and another replica takes them. That delivery must tell "still at work" from "its
process died": it waits while the row shows a recent sign of life, and reads back only after the in-flight grace
without one (``PublishPipeline._resume``).

A fixed grace from the claim cannot cover a publish: it is several calls (media uploads, processing waits of minutes
on X and LinkedIn, then the create), far longer than any one timeout. So while a delivery works on its row,
:class:`KeptAlive` renews the row's sign of life every third of the grace; the grace counts from the last renewal.
A block that ends within the first interval (every post without slow media) costs one timer and starts no task.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from types import TracebackType

log = logging.getLogger(__name__)

RENEWALS_PER_GRACE = 3
"""Renew three times per grace: two renewals can be late or fail before another delivery takes over."""


class KeptAlive:
    """``async with KeptAlive(renew, every)``: while the block runs, ``renew()`` every ``every`` seconds.

    ``renew`` returns ``False`` once the row is no longer this delivery's (it left ``sending``), which ends the
    renewals. A failed renewal is logged and tried again at the next interval: it must never fail the block, whose
    work (a create in flight) matters more than the mark.
    """

    __slots__ = ("_every", "_renew", "_task", "_timer")

    def __init__(self, renew: Callable[[], Awaitable[bool]], every: float) -> None:
        self._renew = renew
        self._every = every
        self._timer: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> None:
        self._timer = asyncio.get_running_loop().call_later(self._every, self._start)

    async def __aexit__(
        self, _type: type[BaseException] | None, _error: BaseException | None, _tb: TracebackType | None
    ) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._task is not None:
            # Not awaited: the block's own cancellation must not be held up (or swallowed) by the renewal's. A
            # renewal still running matches no row once the block has recorded an outcome (it renews `sending` only).
            self._task.cancel()

    def _start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._renewals(), name="in-flight renewals")

    async def _renewals(self) -> None:
        while True:
            try:
                if not await self._renew():
                    return
            except Exception:
                log.warning("could not renew a distribution's in-flight mark; trying again", exc_info=True)
            await asyncio.sleep(self._every)
