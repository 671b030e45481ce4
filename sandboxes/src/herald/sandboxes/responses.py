"""Responses for "accept then fail" faults: the post is stored, but the client never learns it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from herald.sandboxes.faults import AcceptThenFailMode, Fault


class DroppedConnection(Response):
    """Starts a response, then cuts the connection mid-body: the client sees a protocol/read error."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"4096")]})
        await send({"type": "http.response.body", "body": b'{"data":', "more_body": True})
        raise ConnectionAbortedError("sandbox fault injection: connection dropped after the post was stored")


async def accept_then_fail(fault: Fault, unavailable: Response) -> Response:
    """What to answer once the post has been stored. ``unavailable`` is the platform's own 503 response."""
    if fault.mode is AcceptThenFailMode.TIMEOUT:
        # Hold the answer past the client timeout (30 s unless latency_ms says otherwise), then answer 503 anyway.
        await asyncio.sleep((fault.latency_ms or 30_000) / 1000)
        return unavailable
    if fault.mode is AcceptThenFailMode.DROP:
        return DroppedConnection()
    return unavailable


_finishing: set[asyncio.Task[None]] = set()
"""Late creates still to be stored (a reference, so that none is collected before it runs)."""


async def accept_late(fault: Fault, store: Callable[[], object], unavailable: Response) -> Response:
    """``mode=late``: the platform finishes the create ``latency_ms`` after the call arrived, whether or not the
    client still waits (a slow fetch of a media URL, a queue inside the platform). ``store`` runs then, in a task of
    its own that the client's disconnect does not cancel; the client's answer, held as long, is ``unavailable``."""
    delay = fault.latency_ms / 1000

    async def finish() -> None:
        await asyncio.sleep(delay)
        store()

    task = asyncio.create_task(finish())
    _finishing.add(task)
    task.add_done_callback(_finishing.discard)
    await asyncio.sleep(delay)
    return unavailable
