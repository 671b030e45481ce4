"""A minimal service built on the kit, run as a real process by ``test_runtime.py``.

It consumes queue ``$SAMPLE_QUEUE`` and, for each message, sleeps ``$SAMPLE_DELAY`` seconds and then appends the
message id to ``$SAMPLE_OUT``.
"""

import asyncio
import os
from pathlib import Path

from faststream.rabbit import Channel, RabbitQueue
from faststream.rabbit.annotations import RabbitMessage

from herald.kit.runtime import ServiceRuntime
from herald.kit.settings import ServiceSettings, load_settings


def main() -> None:
    settings = load_settings(ServiceSettings)
    runtime = ServiceRuntime(settings)
    out = Path(os.environ["SAMPLE_OUT"])
    delay = float(os.environ.get("SAMPLE_DELAY", "0.3"))

    @runtime.broker.subscriber(RabbitQueue(os.environ["SAMPLE_QUEUE"], durable=True), channel=Channel(prefetch_count=2))
    async def handle(message: RabbitMessage) -> None:
        await asyncio.sleep(delay)  # a deliberately slow handler, so a test can stop the service mid-message
        with out.open("a") as f:
            f.write(f"{message.message_id}\n")

    runtime.serve(runtime.create_app("sample"))


if __name__ == "__main__":
    main()
