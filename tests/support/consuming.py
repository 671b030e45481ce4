"""Run a kit queue consumer (:mod:`herald.kit.amqp_consumer`) in the background of a test, and stop it as the
runtime does; have the broker drop a named connection, as an operator or a broker restart would."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from typing import Generic, TypeVar
from urllib.parse import quote, urlsplit

import httpx

from herald.kit.amqp_consumer import QueueConsumer
from tests.support.eventually import eventually

C = TypeVar("C", bound=QueueConsumer)


@dataclass
class Running(Generic[C]):
    consumer: C
    stop: asyncio.Event
    task: asyncio.Task[None]

    async def close(self) -> None:
        self.stop.set()
        await asyncio.wait_for(self.task, 20)


def start(consumer: C) -> Running[C]:
    stop = asyncio.Event()
    return Running(consumer, stop, asyncio.create_task(consumer.run(stop)))


def _management(amqp_url: str) -> tuple[str, tuple[str, str]]:
    parts = urlsplit(amqp_url)
    port = os.environ.get("HERALD_TEST_RABBIT_MGMT_PORT", "15672")
    return f"http://{parts.hostname}:{port}/api", (parts.username or "guest", parts.password or "guest")


async def close_connections_named(amqp_url: str, name: str) -> int:
    """Have the broker close every connection whose client named it ``name``. The management API lists a new
    connection once its statistics have been emitted, so wait for it."""
    api, auth = _management(amqp_url)
    async with httpx.AsyncClient(auth=auth, timeout=10) as client:

        async def listed() -> list[str]:
            connections = (await client.get(f"{api}/connections")).raise_for_status().json()
            named = {c["name"]: (c.get("client_properties") or {}).get("connection_name") for c in connections}
            return [connection for connection, client_name in named.items() if client_name == name]

        found = await eventually(listed, interval=0.2, what=f"a connection named {name} listed")
        for connection in found:
            await client.delete(f"{api}/connections/{quote(connection, safe='')}")
    return len(found)
