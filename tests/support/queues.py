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
