"""The broker's physical reference on this machine: raw aio-pika, no Herald code.

``python -m bench.reference AMQP_URL --count N --loop asyncio|uvloop`` prints one JSON line:

* publish-confirm: persistent ~220-byte JSON messages to a quorum queue through the default exchange, publisher
  confirms on, ``window`` publishes in flight and all confirmed before the next window (windows of 100);
* consume-ack: the same messages consumed with ``prefetch`` 100 and each acknowledged.

Each run uses its own queue, deleted afterwards. Run in a subprocess so the event loop can be chosen.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from typing import Any

import aio_pika
import uvloop

BODY_BYTES = 220


def body(i: int) -> bytes:
    payload = {"id": str(uuid.uuid4()), "n": i, "type": "com.herald.bench.reference.v1", "pad": ""}
    raw = json.dumps(payload)
    payload["pad"] = "x" * max(BODY_BYTES - len(raw), 0)
    return json.dumps(payload).encode()


async def measure(url: str, count: int, window: int, prefetch: int) -> dict[str, Any]:
    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel(publisher_confirms=True)
        queue_name = f"bench.reference.{uuid.uuid4().hex[:8]}"
        queue = await channel.declare_queue(queue_name, durable=True, arguments={"x-queue-type": "quorum"})
        messages = [
            aio_pika.Message(body(i), delivery_mode=aio_pika.DeliveryMode.PERSISTENT, content_type="application/json")
            for i in range(count)
        ]
        began = time.perf_counter()
        for start in range(0, count, window):
            batch = messages[start : start + window]
            await asyncio.gather(*(channel.default_exchange.publish(m, routing_key=queue_name) for m in batch))
        published = time.perf_counter() - began

        consume_channel = await connection.channel()
        await consume_channel.set_qos(prefetch_count=prefetch)
        consume_queue = await consume_channel.get_queue(queue_name)
        done = asyncio.Event()
        received = 0

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            nonlocal received
            await message.ack()
            received += 1
            if received >= count:
                done.set()

        began = time.perf_counter()
        tag = await consume_queue.consume(on_message)
        await asyncio.wait_for(done.wait(), timeout=600)
        consumed = time.perf_counter() - began
        await consume_queue.cancel(tag)
        await queue.delete(if_unused=False, if_empty=False)
    finally:
        await connection.close()
    return {
        "count": count,
        "body_bytes": len(messages[0].body),
        "publish_confirm_per_second": round(count / published, 1),
        "publish_window": window,
        "consume_ack_per_second": round(count / consumed, 1),
        "prefetch": prefetch,
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.reference", description=__doc__)
    parser.add_argument("amqp_url")
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--window", type=int, default=100)
    parser.add_argument("--prefetch", type=int, default=100)
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    args = parser.parse_args()
    work = measure(args.amqp_url, args.count, args.window, args.prefetch)
    result = uvloop.run(work) if args.loop == "uvloop" else asyncio.run(work)
    print(json.dumps({"loop": args.loop, **result}))


if __name__ == "__main__":
    main()
