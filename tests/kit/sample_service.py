"""A minimal service built on the kit, run as a real process by ``test_runtime.py``.

It consumes queue ``$SAMPLE_QUEUE`` and, for each message, sleeps ``$SAMPLE_DELAY`` seconds and then appends the
message id to ``$SAMPLE_OUT``. ``$SAMPLE_CONSUMER`` picks how: ``faststream`` (a subscriber on the runtime's broker, as
most queues are read) or ``kit`` (the kit's aiormq ``ConcurrentConsumer`` as a background loop, as the publishers
read their work queues).
"""

import asyncio
import os
from pathlib import Path

from faststream.rabbit import Channel, RabbitQueue
from faststream.rabbit.annotations import RabbitMessage

from herald.kit.amqp_consumer import ConcurrentConsumer, Delivery
from herald.kit.runtime import ServiceRuntime
from herald.kit.settings import ServiceSettings, load_settings


def main() -> None:
    settings = load_settings(ServiceSettings)
    runtime = ServiceRuntime(settings)
    out = Path(os.environ["SAMPLE_OUT"])
    delay = float(os.environ.get("SAMPLE_DELAY", "0.3"))
    queue = os.environ["SAMPLE_QUEUE"]

    async def work(message_id: str | None) -> None:
        await asyncio.sleep(delay)  # a deliberately slow handler, so a test can stop the service mid-message
        with out.open("a") as f:
            f.write(f"{message_id}\n")

    if os.environ.get("SAMPLE_CONSUMER", "faststream") == "kit":

        async def handle_delivery(message: Delivery) -> None:
            await work(message.message_id)
            await message.ack()

        consumer = ConcurrentConsumer(settings.amqp_url.get_secret_value(), queue, prefetch=2, handle=handle_delivery)

        async def declare() -> None:
            await runtime.broker.declare_queue(RabbitQueue(queue, durable=True))

        runtime.on_start(declare)
        runtime.add_background(consumer.run)
        runtime.add_readiness_check("consumer", consumer.ready)
    else:

        @runtime.broker.subscriber(RabbitQueue(queue, durable=True), channel=Channel(prefetch_count=2))
        async def handle(message: RabbitMessage) -> None:
            await work(message.message_id)

    runtime.serve(runtime.create_app("sample"))


if __name__ == "__main__":
    main()
