"""AMQP connections that write each event-loop iteration's frames to the socket in one system call.

aiormq writes every outgoing frame set (a publish, an acknowledgement, a ``basic.qos``) with its own
``transport.write``, and the event loop sends each at once: one ``send`` system call and, with ``TCP_NODELAY``, one
TCP segment per message, which the broker then reads one by one. A service that publishes a batch of outcomes or
acknowledges a run of deliveries within one iteration of the loop made as many system calls as messages; in the
burst's profiles those writes were the largest single leaf of the scheduler (17% of its samples) and of the
publishers (9%).

:class:`CoalescingTransport` holds what is written during one iteration and hands it to the real transport in one
write, from a callback scheduled for the end of that iteration (``loop.call_soon``). Nothing waits longer than the
iteration it was written in, the order of bytes on the connection is unchanged, and a close or EOF first sends what
is held. Back-pressure is the real transport's, as before: aiormq does not drain between publishes either.

aio-pika (under FastStream's broker) builds its aiormq connections itself and passes only the parameters it knows,
so :func:`coalesce_amqp_writes` makes this the default transport of every aiormq connection of the process.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import aiormq
from aiormq.connection import TransportFactory
from aiormq.exceptions import AMQPConnectionError
from yarl import URL

STREAM_LIMIT = 2**16
"""The stream reader's buffer limit, ``asyncio.open_connection``'s default (what aiormq used before)."""


class CoalescingTransport(asyncio.Transport):
    """A proxy of a connected transport whose writes within one loop iteration leave in one ``write`` call."""

    def __init__(self, inner: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._inner = inner
        self._loop = loop
        self._held: list[bytes] = []
        self._held_bytes = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        if not self._held:
            self._loop.call_soon(self.flush)
        # Held past this call: a mutable buffer is copied, as a transport copies what it cannot send at once.
        chunk = data if isinstance(data, bytes) else bytes(data)
        self._held.append(chunk)
        self._held_bytes += len(chunk)  # bytes, also for a memoryview of wider items

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self.write(data)

    def flush(self) -> None:
        """Hand everything held to the real transport now (also called at the end of the iteration)."""
        if not self._held:
            return
        held, self._held, self._held_bytes = self._held, [], 0
        if self._inner.is_closing():
            return  # the connection is gone; the real transport would drop the bytes too
        self._inner.write(held[0] if len(held) == 1 else b"".join(held))

    def write_eof(self) -> None:
        self.flush()
        self._inner.write_eof()

    def can_write_eof(self) -> bool:
        return self._inner.can_write_eof()

    def close(self) -> None:
        self.flush()
        self._inner.close()

    def abort(self) -> None:
        self._held, self._held_bytes = [], 0
        self._inner.abort()

    def is_closing(self) -> bool:
        return self._inner.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._inner.get_extra_info(name, default)

    def get_write_buffer_size(self) -> int:
        return self._inner.get_write_buffer_size() + self._held_bytes

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._inner.get_write_buffer_limits()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._inner.set_write_buffer_limits(high, low)

    def is_reading(self) -> bool:
        return self._inner.is_reading()

    def pause_reading(self) -> None:
        self._inner.pause_reading()

    def resume_reading(self) -> None:
        self._inner.resume_reading()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._inner.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._inner.get_protocol()


class CoalescingTransportFactory(TransportFactory):
    """aiormq's transport factory for ``amqp://`` and ``amqps://`` whose writer coalesces (see the module)."""

    async def create(self, url: URL, **kwargs: Any) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        provider = kwargs.pop("ssl_context_provider", None)
        ssl = await provider.get_context() if url.scheme == "amqps" and provider is not None else None
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=STREAM_LIMIT, loop=loop)
        protocol = asyncio.StreamReaderProtocol(reader, loop=loop)
        try:
            # aiormq gives the URL its scheme's default port; host and port go to the loop as asyncio's own
            # open_connection (aiormq's TCP factory) passes them.
            transport, _ = await loop.create_connection(
                lambda: protocol,
                url.host,  # type: ignore[arg-type]
                url.port,  # type: ignore[arg-type]
                ssl=ssl,
                **kwargs,
            )
        except OSError as e:
            raise AMQPConnectionError(*e.args) from e
        writer = asyncio.StreamWriter(CoalescingTransport(transport, loop), protocol, reader, loop)
        return reader, writer


_FACTORY = CoalescingTransportFactory()


def amqp_writes_coalesced() -> bool:
    """Whether :func:`coalesce_amqp_writes` has been applied in this process."""
    return bool(getattr(aiormq.connect, "_herald_coalescing", False))


def coalesce_amqp_writes() -> None:
    """Make :class:`CoalescingTransportFactory` the default of every ``aiormq.connect`` of this process
    (idempotent). A caller that names its own ``transport_factory`` keeps it."""
    if amqp_writes_coalesced():
        return
    original = aiormq.connect

    @functools.wraps(original)
    def connect(url: Any, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("transport_factory", _FACTORY)
        return original(url, *args, **kwargs)

    connect._herald_coalescing = True  # type: ignore[attr-defined]
    aiormq.connect = connect
