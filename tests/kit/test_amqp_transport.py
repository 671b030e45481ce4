"""The coalescing AMQP transport: one socket write per loop iteration, bytes in order, nothing held past a close."""

import asyncio
import uuid
from collections.abc import AsyncIterator

import aiormq
import pytest
from aiormq import spec

from herald.kit.amqp_transport import (
    CoalescingTransport,
    CoalescingTransportFactory,
    amqp_writes_coalesced,
    coalesce_amqp_writes,
)
from tests.support.eventually import eventually, immediately


class _Recorder(asyncio.Protocol):
    """The far end of a loopback connection: what it received, and whether the peer closed."""

    def __init__(self) -> None:
        self.received = bytearray()
        self.closed = asyncio.Event()

    def data_received(self, data: bytes) -> None:
        self.received += data

    def eof_received(self) -> bool:
        self.closed.set()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed.set()


class _CountingTransport:
    """Counts the writes that reach a real transport (everything else goes straight to it)."""

    def __init__(self, inner: asyncio.Transport) -> None:
        self.inner = inner
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))
        self.inner.write(data)

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


Loopback = tuple[_Recorder, _CountingTransport, CoalescingTransport]
"""The far end, the counted real transport, and the coalescing transport over it."""


@pytest.fixture
async def loopback() -> AsyncIterator[Loopback]:
    loop = asyncio.get_running_loop()
    recorder = _Recorder()
    server = await loop.create_server(lambda: recorder, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    transport, _ = await loop.create_connection(asyncio.Protocol, "127.0.0.1", port)
    counting = _CountingTransport(transport)
    yield recorder, counting, CoalescingTransport(counting, loop)  # type: ignore[arg-type]
    transport.close()
    server.close()
    await server.wait_closed()


async def test_writes_of_one_iteration_leave_in_one_write_in_order(
    loopback: Loopback,
) -> None:
    recorder, counting, transport = loopback
    mutable = bytearray(b"three,")
    for part in (b"one,", b"two,", mutable, memoryview(b"four")):
        transport.write(part)
    mutable[:] = b"XXXXX,"  # the caller reuses its buffer: what was written is what is sent
    assert counting.writes == []  # held until the iteration ends
    assert transport.get_write_buffer_size() == len(b"one,two,three,four")
    await asyncio.sleep(0)
    assert counting.writes == [b"one,two,three,four"]
    transport.write(b";five")  # a later iteration: its own write
    await eventually(
        immediately(lambda: bytes(recorder.received) == b"one,two,three,four;five"), what="both writes received"
    )
    assert counting.writes == [b"one,two,three,four", b";five"]


async def test_close_sends_what_is_held_first(
    loopback: Loopback,
) -> None:
    recorder, _, transport = loopback
    transport.write(b"last words")
    transport.close()
    await asyncio.wait_for(recorder.closed.wait(), 5)
    assert bytes(recorder.received) == b"last words"


async def test_abort_drops_what_is_held(
    loopback: Loopback,
) -> None:
    recorder, counting, transport = loopback
    transport.write(b"never sent")
    transport.abort()
    await asyncio.wait_for(recorder.closed.wait(), 5)
    await asyncio.sleep(0)
    assert counting.writes == []
    assert bytes(recorder.received) == b""


async def test_confirmed_publishes_and_consumes_over_the_real_broker(amqp_url: str) -> None:
    """A connection on the coalescing transport publishes a window of messages with confirms (their frames leave in
    a few writes) and consumes them back in order, then closes cleanly."""
    connection = await aiormq.connect(amqp_url, transport_factory=CoalescingTransportFactory())
    try:
        channel = await connection.channel(publisher_confirms=True)
        declared = await channel.queue_declare(f"coalescing-{uuid.uuid4().hex}", exclusive=True)
        queue = declared.queue
        assert queue is not None
        bodies = [f"message {n}".encode() for n in range(300)]
        confirmations = await asyncio.gather(*(channel.basic_publish(body, routing_key=queue) for body in bodies))
        assert all(isinstance(c, spec.Basic.Ack) for c in confirmations)

        received: list[bytes] = []
        done = asyncio.Event()

        async def on_message(message: aiormq.abc.DeliveredMessage) -> None:
            received.append(message.body)
            assert message.delivery_tag is not None
            await message.channel.basic_ack(message.delivery_tag)
            if len(received) == len(bodies):
                done.set()

        await channel.basic_qos(prefetch_count=50)
        await channel.basic_consume(queue, on_message)
        await asyncio.wait_for(done.wait(), 10)
        assert received == bodies
        check = await channel.queue_declare(queue, passive=True)
        assert check.message_count == 0  # every ack reached the broker
    finally:
        await connection.close()
    assert connection.is_closed


async def test_installed_as_the_default_of_aiormq_connect(amqp_url: str) -> None:
    coalesce_amqp_writes()
    coalesce_amqp_writes()  # idempotent: one wrapper, not two
    assert amqp_writes_coalesced()
    assert getattr(aiormq.connect, "__wrapped__", None) is not None
    assert getattr(getattr(aiormq.connect, "__wrapped__", None), "__wrapped__", None) is None
    connection = await aiormq.connect(amqp_url)
    try:
        assert isinstance(connection._transport_factory, CoalescingTransportFactory)
        channel = await connection.channel()
        await channel.basic_qos(prefetch_count=1)
    finally:
        await connection.close()
