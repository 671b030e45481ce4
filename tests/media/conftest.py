"""The media service over real HTTP on the real PostgreSQL, RabbitMQ and object store (SeaweedFS, from
``tests/support/objectstore.py``), with a stand-in scheduler it asks about holders (not its endpoint).

``harness``: one service instance for the session, cleanup loop off. Tests make their own teams, so they do not
depend on each other. Cleanup tests start their own instance (:func:`start_media`) on a database of their own.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import aio_pika
import asyncpg
import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from herald.contracts.routing import EVENTS_EXCHANGE
from herald.kit.auth import ApiKeyStore, new_service_credential
from herald.media.main import build
from herald.media.settings import MediaSettings
from herald.media.storage import ObjectStorage
from herald.objectstore import ObjectStore, ObjectStoreSettings
from tests.support.eventually import eventually
from tests.support.objectstore import empty_and_delete_bucket
from tests.support.servers import reserve_port, serve


@dataclass
class Switch(httpx.AsyncBaseTransport):
    """Forwards to the real store, or fails to connect while ``away`` (what the store's client sees when SeaweedFS is
    down or not started yet)."""

    inner: httpx.AsyncBaseTransport
    away: bool = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.away:
            raise httpx.ConnectError("connection refused", request=request)
        return await self.inner.handle_async_request(request)


@dataclass
class SchedulerStandIn:
    """Answers ``GET /internal/v1/media/{id}/holders`` from what a test put in ``holders``; ``down`` makes it fail."""

    token: str
    holders: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    down: bool = False
    calls: list[tuple[str, str]] = field(default_factory=list)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/internal/v1/media/{media_id}/holders")
        async def holders(media_id: str, team_id: str, request: Request) -> JSONResponse:
            if request.headers.get("authorization") != f"Bearer {self.token}":
                return JSONResponse({"detail": "unknown service credential"}, status_code=401)
            self.calls.append((team_id, media_id))
            if self.down:
                return JSONResponse({"detail": "database unavailable"}, status_code=503)
            return JSONResponse({"distributions": self.holders.get(media_id, [])})

        return app


@dataclass
class EventLog:
    """Every media event published on the test vhost."""

    queue: aio_pika.abc.AbstractQueue
    seen: list[dict[str, Any]] = field(default_factory=list)

    async def _drain(self) -> None:
        while (message := await self.queue.get(no_ack=True, fail=False)) is not None:
            body = json.loads(message.body)
            body["_type"] = message.type or message.headers.get("cloudEvents_type")
            self.seen.append(body)

    async def wait_for(self, kind: str, *, within: float = 10.0, **match: str) -> dict[str, Any]:
        """The first event of ``kind`` whose fields equal ``match``."""

        async def found() -> dict[str, Any] | None:
            await self._drain()
            for event in self.seen:
                if kind in (event["_type"] or "") and all(str(event.get(k)) == v for k, v in match.items()):
                    return event
            return None

        event = await eventually(found, within=within, what=f"{kind} event with {match}")
        assert event is not None
        return event

    async def all_of(self, kind: str, **match: str) -> list[dict[str, Any]]:
        await self._drain()
        return [
            e for e in self.seen if kind in (e["_type"] or "") and all(str(e.get(k)) == v for k, v in match.items())
        ]


@dataclass
class Harness:
    url: str
    settings: MediaSettings
    store: ObjectStore
    scheduler: SchedulerStandIn
    engine: AsyncEngine
    scheduler_credential: str
    client: httpx.AsyncClient

    async def team(self) -> tuple[uuid.UUID, dict[str, str]]:
        team_id = uuid.uuid4()
        _, key = await ApiKeyStore(self.engine).create(team_id, "tests")
        return team_id, {"Authorization": f"Bearer {key}"}

    async def upload(self, team: dict[str, str], data: bytes, filename: str = "file.bin") -> httpx.Response:
        return await self.client.post(f"{self.url}/v1/media", headers=team, files={"file": (filename, data)})

    async def rows(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        async with self.engine.connect() as conn:
            return [dict(r) for r in (await conn.execute(text(sql), params)).mappings()]


def settings_for(database_url: str, amqp_url: str, port: int, scheduler_url: str, **overrides: Any) -> MediaSettings:
    values: dict[str, Any] = {
        "environment": "test",
        "database_url": database_url,
        "amqp_url": amqp_url,
        "http_port": port,
        "scheduler_url": scheduler_url,
        "scheduler_timeout_seconds": 2.0,
        "max_image_bytes": 2 * 1024 * 1024,
        "max_gif_bytes": 2 * 1024 * 1024,
        "max_video_bytes": 40 * 1024 * 1024,
        "max_chunk_bytes": 8 * 1024 * 1024,
        "part_bytes": 5 * 1024 * 1024,
        "cleanup_enabled": False,
        "outbox_poll_interval_seconds": 0.2,
        "graceful_timeout_seconds": 5,
        **overrides,
    }
    return MediaSettings.model_validate(values)


@contextlib.contextmanager
def start_media(settings: MediaSettings, store: ObjectStorage) -> Iterator[str]:
    _, app = build(settings, store)
    with serve(app, port=settings.http_port) as url:
        yield url


def schema_engine(database_url: str) -> AsyncEngine:
    return create_async_engine(database_url, connect_args={"server_settings": {"search_path": "media"}})


@contextlib.asynccontextmanager
async def fresh_database(database_base_url: str) -> AsyncIterator[str]:
    name = f"herald_test_media_{uuid.uuid4().hex[:8]}"
    admin_dsn = database_base_url.replace("postgresql+asyncpg://", "postgresql://", 1)
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    try:
        yield database_base_url.rsplit("/", 1)[0] + "/" + name
    finally:
        conn = await asyncpg.connect(admin_dsn)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


@pytest.fixture(scope="session")
async def event_log(amqp_url: str) -> AsyncIterator[EventLog]:
    """Bound before the service publishes (the kit publishes mandatory): every ``media.*`` event."""
    connection = await aio_pika.connect_robust(amqp_url)
    channel = await connection.channel()
    exchange = await channel.declare_exchange(EVENTS_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)
    queue = await channel.declare_queue(f"media-tests-{os.getpid()}", exclusive=True)
    await queue.bind(exchange, "media.#")
    yield EventLog(queue)
    await connection.close()


@pytest.fixture(scope="session")
async def object_store(objectstore_settings: ObjectStoreSettings) -> AsyncIterator[ObjectStore]:
    """A bucket of this session's media tests on the session's SeaweedFS, emptied and deleted afterwards."""
    settings = replace(objectstore_settings, bucket=f"media-tests-{uuid.uuid4().hex[:12]}")
    async with ObjectStore(settings) as store:
        await store.ensure_bucket()
        try:
            yield store
        finally:
            await empty_and_delete_bucket(store)


@pytest.fixture(scope="session")
def scheduler_stand_in() -> Iterator[tuple[SchedulerStandIn, str, str]]:
    """The stand-in, its URL, and the media service's credential it accepts."""
    token, _ = new_service_credential("media")
    stand_in = SchedulerStandIn(token)
    with serve(stand_in.app()) as url:
        yield stand_in, url, token


@pytest.fixture(scope="session")
async def harness(
    database_url: str,
    amqp_url: str,
    event_log: EventLog,
    object_store: ObjectStore,
    scheduler_stand_in: tuple[SchedulerStandIn, str, str],
) -> AsyncIterator[Harness]:
    stand_in, scheduler_url, media_token = scheduler_stand_in
    scheduler_token, scheduler_hash = new_service_credential("scheduler")
    settings = settings_for(
        database_url,
        amqp_url,
        reserve_port(),
        scheduler_url,
        service_token=media_token,
        service_credentials={"scheduler": scheduler_hash},
    )
    engine = schema_engine(database_url)
    async with httpx.AsyncClient(timeout=60) as client:
        with start_media(settings, ObjectStore(object_store.settings)) as url:  # its own client, on its own loop
            yield Harness(url, settings, object_store, stand_in, engine, scheduler_token, client)
    await engine.dispose()
