"""Helpers for the scheduler tests: running instances, teams, accounts fed through the broker, event watchers."""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aio_pika
import httpx
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from herald.contracts.accounts import AccountConnected, AccountDisconnected, AccountReauthRequired
from herald.contracts.base import Event, service_actor
from herald.contracts.envelope import ReceivedEvent, read_amqp
from herald.contracts.media import Surface
from herald.contracts.platform import Platform
from herald.contracts.routing import EVENTS_EXCHANGE
from herald.kit.admin import BOOTSTRAP_HEADER
from herald.kit.auth import new_service_credential
from herald.kit.broker import EventPublisher
from herald.kit.runtime import ServiceRuntime
from herald.scheduler.main import build
from herald.scheduler.settings import SchedulerSettings
from tests.support.eventually import eventually
from tests.support.media_standin import MediaStandIn

BOOTSTRAP_SECRET = secrets.token_urlsafe(24)
SINK_QUEUE = "scheduler-tests.sink"
SINK_BINDINGS = ("distribution.#", "content.#", "publish.requested.#", "api_key.#", "message.#")
"""Everything the scheduler emits is routable during the tests, as the audit service's ``#`` binding makes it."""


def settings_for(database_url: str, amqp_url: str, **overrides: Any) -> SchedulerSettings:
    values: dict[str, Any] = {
        "environment": "test",
        "database_url": SecretStr(database_url),
        "amqp_url": SecretStr(amqp_url),
        "bootstrap_secret": SecretStr(BOOTSTRAP_SECRET),
        "graceful_timeout_seconds": 5,
        "publish_timeout_seconds": 5,
        "outbox_poll_interval_seconds": 0.2,
        "outbox_max_backoff_seconds": 1,
        "consumer_retry_pause_seconds": 0.1,
        "db_pool_size": 5,
    }
    return SchedulerSettings(**(values | overrides))


def media_settings(media: MediaStandIn) -> dict[str, Any]:
    """Settings that point a scheduler at a media stand-in, and let the media service ask for holders."""
    _, media_hash = MEDIA_CALLER
    return {
        "media_url": media.url,
        "service_token": SecretStr(media.credential),
        "service_credentials": {"media": media_hash},
    }


MEDIA_CALLER = new_service_credential("media")
"""``(bearer token, SHA-256)`` of the media service's credential for the scheduler's internal API."""


@dataclass
class Instance:
    """A scheduler running in this process (its lifespan entered), reached over ASGI."""

    runtime: ServiceRuntime
    app: FastAPI
    client: httpx.AsyncClient
    settings: SchedulerSettings

    @property
    def engine(self) -> AsyncEngine:
        assert self.runtime.engine is not None
        return self.runtime.engine

    def metric(self, name: str, **labels: str) -> float:
        return float(self.runtime.registry.get_sample_value(name, labels) or 0)


@asynccontextmanager
async def running(settings: SchedulerSettings) -> AsyncIterator[Instance]:
    runtime, app = build(settings)
    async with runtime.lifespan(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://scheduler") as client:
            yield Instance(runtime, app, client, settings)


@dataclass
class Team:
    team_id: uuid.UUID
    key_id: str
    headers: dict[str, str]


async def new_team(client: httpx.AsyncClient) -> Team:
    response = await client.post(
        "/v1/admin/api-keys", json={"name": "tests"}, headers={BOOTSTRAP_HEADER: BOOTSTRAP_SECRET}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    return Team(uuid.UUID(body["team_id"]), body["key_id"], {"Authorization": f"Bearer {body['api_key']}"})


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def iso(moment: dt.datetime) -> str:
    return moment.isoformat()


class Broker:
    """Publishes events into the test vhost as the other services would."""

    def __init__(self, publisher: EventPublisher) -> None:
        self.publisher = publisher

    async def publish(self, event: Event, *, event_id: str | None = None) -> str:
        return await self.publisher.publish(event, event_id=event_id)

    async def connect_account(
        self,
        engine: AsyncEngine,
        team: Team,
        platform: Platform = Platform.X,
        *,
        account_id: uuid.UUID | None = None,
        occurred_at: dt.datetime | None = None,
        surface: Surface | None = None,
    ) -> uuid.UUID:
        """Publish ``AccountConnected`` (as the tokens service does) and wait until the projection has it."""
        account_id = account_id or uuid.uuid4()
        await self.publish(account_event(AccountConnected, team, platform, account_id, occurred_at, surface=surface))
        await wait_for_account(engine, account_id, "connected")
        return account_id

    async def disconnect_account(
        self, engine: AsyncEngine, team: Team, account_id: uuid.UUID, platform: Platform = Platform.X
    ) -> None:
        """Publish ``AccountDisconnected`` (as the tokens service does) and wait until the projection has it."""
        await self.publish(account_event(AccountDisconnected, team, platform, account_id))
        await wait_for_account(engine, account_id, "disconnected")


def account_event(
    cls: type[AccountConnected | AccountDisconnected | AccountReauthRequired],
    team: Team,
    platform: Platform,
    account_id: uuid.UUID,
    occurred_at: dt.datetime | None = None,
    *,
    surface: Surface | None = None,
) -> Event:
    extra: dict[str, Any] = {"surface": surface} if cls is AccountConnected else {"reason": "revoked on the platform"}
    return cls(
        team_id=team.team_id,
        correlation_id=str(account_id),
        actor=service_actor("tokens"),
        occurred_at=occurred_at or now(),
        account_id=account_id,
        platform=platform,
        platform_account_id=f"acct-{account_id.hex[:8]}",
        account_name="Herald Test",
        **extra,
    )


async def wait_for_account(engine: AsyncEngine, account_id: uuid.UUID, status: str, seconds: float = 10) -> None:
    async def has_status() -> bool:
        async with engine.connect() as conn:
            found = (
                await conn.execute(text("SELECT status FROM accounts WHERE account_id = :id"), {"id": account_id})
            ).scalar_one_or_none()
        return found == status

    await eventually(has_status, within=seconds, interval=0.02, what=f"account {account_id} {status}")


async def wait_processed(engine: AsyncEngine, event_id: str, seconds: float = 10) -> None:
    """Wait until the scheduler has consumed the event ``event_id`` (applied or not)."""

    async def processed() -> bool:
        async with engine.connect() as conn:
            found = (
                await conn.execute(text("SELECT 1 FROM processed_events WHERE event_id = :id"), {"id": event_id})
            ).first()
        return found is not None

    await eventually(processed, within=seconds, interval=0.02, what=f"event {event_id} processed")


@dataclass
class Watch:
    """Events routed to a private queue bound with ``keys``, as the scheduler published them."""

    messages: list[aio_pika.abc.AbstractIncomingMessage] = field(default_factory=list)

    @property
    def events(self) -> list[ReceivedEvent]:
        return [read_amqp(m.body, m.headers, content_type=m.content_type) for m in self.messages]

    def of(self, cls: type[Event], **match: Any) -> list[Any]:
        found = []
        for received in self.events:
            event = received.event
            if isinstance(event, cls) and all(getattr(event, k) == v for k, v in match.items()):
                found.append(event)
        return found

    async def wait_for(self, cls: type[Event], count: int = 1, seconds: float = 10, **match: Any) -> list[Any]:
        async def enough() -> bool:
            return len(self.of(cls, **match)) >= count

        await eventually(enough, within=seconds, interval=0.01, what=f"{count} {cls.__name__} {match}")
        return self.of(cls, **match)


@asynccontextmanager
async def watching(amqp_url: str, *keys: str) -> AsyncIterator[Watch]:
    connection = await aio_pika.connect_robust(amqp_url)
    try:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(EVENTS_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)
        queue = await channel.declare_queue(exclusive=True)
        for key in keys:
            await queue.bind(exchange, routing_key=key)
        watch = Watch()

        async def collect(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            watch.messages.append(message)

        await queue.consume(collect, no_ack=True)
        yield watch
    finally:
        await connection.close()


async def wait_until(check: Callable[[], Any], seconds: float = 10, interval: float = 0.02) -> Any:
    """Await ``check()`` (sync or async) until it returns something truthy."""

    async def probe() -> Any:
        result = check()
        return await result if asyncio.iscoroutine(result) else result

    return await eventually(probe, within=seconds, interval=interval)


async def delete_work_queues(amqp_url: str, *names: str) -> None:
    """Remove a scheduler's work queue and its parking queue once no test needs them."""
    connection = await aio_pika.connect_robust(amqp_url)
    try:
        channel = await connection.channel()
        for name in names:
            for queue in (name, f"{name}.dead", f"{name}.dead.watch"):
                await channel.queue_delete(queue)
    finally:
        await connection.close()
