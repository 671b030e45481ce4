"""Take messages from a real RabbitMQ queue, waiting for them with :func:`tests.support.eventually.eventually`."""

from __future__ import annotations

import aio_pika

from tests.support.eventually import eventually


async def take(
    queue: aio_pika.abc.AbstractQueue, count: int, *, within: float = 10, ack: bool = False
) -> list[aio_pika.abc.AbstractIncomingMessage]:
    """The next ``count`` messages of ``queue`` (acknowledged first when ``ack``), in queue order."""
    taken: list[aio_pika.abc.AbstractIncomingMessage] = []

    async def all_taken() -> bool:
        while len(taken) < count and (message := await queue.get(fail=False)) is not None:
            if ack:
                await message.ack()
            taken.append(message)
        return len(taken) >= count

    await eventually(all_taken, within=within, what=f"{count} messages taken from {queue.name}")
    return taken


async def ready(amqp_url: str, queue: str) -> int:
    """Messages ready in ``queue``: a delivery a consumer holds unacknowledged is not counted."""
    (count,) = await _ready_in(amqp_url, queue)
    return count


async def ready_and_parked(amqp_url: str, queue: str) -> tuple[int, int]:
    """Messages ready in ``queue`` and in its parking queue (``<queue>.dead``)."""
    work, parking = await _ready_in(amqp_url, queue, f"{queue}.dead")
    return work, parking


async def _ready_in(amqp_url: str, *queues: str) -> list[int]:
    # A passive declare on a connection of its own: it reads the counts without touching the queues.
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        return [
            (await channel.declare_queue(queue, passive=True)).declaration_result.message_count or 0 for queue in queues
        ]
    finally:
        await connection.close()
