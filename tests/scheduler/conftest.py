"""Fixtures: one shared scheduler (schema ``scheduler``) for the API tests, a broker to play the other services."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aio_pika
import httpx
import pytest
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from herald.contracts.platform import Platform
from herald.contracts.routing import EVENTS_EXCHANGE
from herald.kit.broker import EventPublisher, build_broker, declare_exchanges
from herald.kit.settings import ServiceSettings
from tests.scheduler.support import (
    SINK_BINDINGS,
    SINK_QUEUE,
    Broker,
    Instance,
    Team,
    delete_work_queues,
    media_settings,
    new_team,
    running,
    settings_for,
)
from tests.support.media_standin import MediaStandIn, media_standin


@pytest.fixture(scope="package")
async def sink(amqp_url: str) -> AsyncIterator[None]:
    connection = await aio_pika.connect_robust(amqp_url)
    channel = await connection.channel()
    exchange = await channel.declare_exchange(EVENTS_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)
    queue = await channel.declare_queue(
        SINK_QUEUE, durable=True, arguments={"x-max-length": 10_000, "x-message-ttl": 60_000}
    )
    for key in SINK_BINDINGS:
        await queue.bind(exchange, routing_key=key)
    yield
    await queue.delete(if_unused=False, if_empty=False)
    await connection.close()


@pytest.fixture(scope="package")
def media() -> Iterator[MediaStandIn]:
    """The media service the shared scheduler resolves media ids with (a stand-in over real HTTP)."""
    with media_standin() as standin:
        yield standin


@pytest.fixture(scope="package")
async def scheduler(database_url: str, amqp_url: str, sink: None, media: MediaStandIn) -> AsyncIterator[Instance]:
    """The scheduler most tests talk to: default schema and queue, production-like sleep bounds."""
    settings = settings_for(database_url, amqp_url, **media_settings(media))
    async with running(settings) as instance:
        yield instance
    await delete_work_queues(amqp_url, settings.work_queue)


@pytest.fixture
def client(scheduler: Instance) -> httpx.AsyncClient:
    return scheduler.client


@pytest.fixture
async def team(client: httpx.AsyncClient) -> Team:
    return await new_team(client)


@pytest.fixture(scope="package")
async def broker(amqp_url: str) -> AsyncIterator[Broker]:
    settings = ServiceSettings(amqp_url=SecretStr(amqp_url), service_name="tests")
    rabbit = build_broker(settings, CollectorRegistry())
    await rabbit.connect()
    await declare_exchanges(rabbit)
    yield Broker(EventPublisher(rabbit, source="/herald/tests", timeout=5))
    await rabbit.stop()


@pytest.fixture
async def x_account(scheduler: Instance, broker: Broker, team: Team) -> uuid.UUID:
    return await broker.connect_account(scheduler.engine, team, Platform.X)


@pytest.fixture
async def content(client: httpx.AsyncClient, team: Team) -> dict[str, Any]:
    """An approved content item."""
    created = await client.post(
        "/v1/contents",
        json={"title": "Launch", "text": "Herald ships today.", "link": "https://herald.example/launch"},
        headers=team.headers,
    )
    assert created.status_code == 201, created.text
    approved = await client.post(f"/v1/contents/{created.json()['content_id']}/approve", headers=team.headers)
    assert approved.status_code == 200, approved.text
    body: dict[str, Any] = approved.json()
    return body
