"""The tokens service over real HTTP, on the real PostgreSQL and RabbitMQ, against the three platform sandboxes.

``harness`` is one service instance (session-wide) whose X, LinkedIn and Meta settings point at sandboxes served
on loopback ports. Tests create their own team and accounts (unique sandbox account names), so they do not
depend on each other. Tests that need another configuration (a second database, other keys, the background
loop) build their own with :func:`start_service` and :func:`fresh_database`.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aio_pika
import asyncpg
import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from herald.contracts.accounts import (
    AccountConnected,
    AccountDisconnected,
    AccountReauthRequired,
    TokenRefreshed,
    TokenRefreshFailed,
)
from herald.contracts.platform import Platform
from herald.contracts.routing import EVENTS_EXCHANGE, binding_key
from herald.kit.auth import ApiKeyStore, new_service_credential
from herald.platforms.linkedin import LinkedInSettings
from herald.platforms.meta import MetaSettings
from herald.platforms.x import XSettings
from herald.sandboxes.linkedin.app import create_app as linkedin_app
from herald.sandboxes.meta.app import create_app as meta_app
from herald.sandboxes.x.app import create_app as x_app
from herald.tokens.crypto import KeyRing
from herald.tokens.main import build
from herald.tokens.settings import TokensSettings
from tests.support.eventually import eventually
from tests.support.servers import reserve_port, serve

PUBLISHERS = {platform: f"publisher-{platform.value}" for platform in Platform}
ALLOWED_REDIRECT_URI = "https://app.example.com/accounts/connected"
KEY_1 = base64.b64encode(b"1" * 32).decode()
KEY_2 = base64.b64encode(b"2" * 32).decode()


def ring(**keys: str) -> KeyRing:
    """The key ring a test uses to read the database directly (first key is primary)."""
    return KeyRing({k: base64.b64decode(v) for k, v in keys.items()}, next(iter(keys)))


@dataclass
class Sandboxes:
    urls: dict[Platform, str]

    async def arm(self, platform: Platform, **fault: Any) -> None:
        async with httpx.AsyncClient() as client:
            (await client.post(f"{self.urls[platform]}/_sandbox/faults", json=fault)).raise_for_status()

    async def clear(self, platform: Platform) -> None:
        async with httpx.AsyncClient() as client:
            (await client.delete(f"{self.urls[platform]}/_sandbox/faults")).raise_for_status()

    async def token_requests(self, platform: Platform, account: str) -> int:
        async with httpx.AsyncClient() as client:
            stats = (await client.get(f"{self.urls[platform]}/_sandbox/stats")).json()
        return int(stats["token_requests"].get(account, 0))


@contextlib.contextmanager
def serve_sandboxes(linkedin_config: Any = None) -> Iterator[Sandboxes]:
    with (
        serve(x_app()) as x_url,
        serve(linkedin_app(linkedin_config)) as linkedin_url,
        serve(meta_app()) as meta_url,
    ):
        yield Sandboxes({Platform.X: x_url, Platform.LINKEDIN: linkedin_url, Platform.META: meta_url})


@dataclass
class EventLog:
    """Every event published on the test vhost (a queue bound to ``#`` on ``herald.events``)."""

    queue: aio_pika.abc.AbstractQueue
    seen: list[dict[str, Any]] = field(default_factory=list)

    async def _drain(self) -> None:
        while (message := await self.queue.get(no_ack=True, fail=False)) is not None:
            body = json.loads(message.body)
            body["_type"] = message.type or message.headers.get("cloudEvents_type")
            self.seen.append(body)

    async def for_account(self, account_id: str, *, until: int = 0, timeout: float = 5.0) -> list[dict[str, Any]]:
        """The account's events; waits until there are at least ``until`` of them (fails after ``timeout``)."""
        return await self.of_type(account_id, "", until=until, timeout=timeout)

    async def of_type(
        self, account_id: str, kind: str, *, until: int = 1, timeout: float = 5.0
    ) -> list[dict[str, Any]]:
        """The account's events of ``kind``; waits until there are at least ``until`` of them (fails after
        ``timeout``). ``until=0``: those that have arrived, at once (after :func:`events_settled`, all there are)."""

        async def enough() -> list[dict[str, Any]] | None:
            await self._drain()
            found = [e for e in self.seen if e.get("account_id") == account_id and kind in e["_type"]]
            return found if len(found) >= until else None

        if until == 0:
            return await enough() or []
        found = await eventually(enough, within=timeout, what=f"{until} {kind or 'events'} of account {account_id}")
        assert found is not None
        return found


@dataclass
class Harness:
    """One running tokens service, and what tests need to talk to it."""

    url: str
    settings: TokensSettings
    sandboxes: Sandboxes
    engine: AsyncEngine
    credentials: dict[str, str]
    client: httpx.AsyncClient

    def service(self, platform: Platform) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.credentials[PUBLISHERS[platform]]}"}

    async def team(self) -> tuple[uuid.UUID, dict[str, str]]:
        """A new team and the headers of one of its API keys."""
        team_id = uuid.uuid4()
        _, key = await ApiKeyStore(self.engine).create(team_id, "tests")
        return team_id, {"Authorization": f"Bearer {key}"}

    async def connect(self, platform: Platform, team: dict[str, str], account: str) -> list[dict[str, Any]]:
        """The whole connect flow: authorize, consent at the sandbox as ``account``, follow the callback."""
        started = await self.client.post(f"{self.url}/v1/accounts/connect/{platform.value}", headers=team, json={})
        assert started.status_code == 200, started.text
        consent = await self.client.get(f"{started.json()['authorization_url']}&account={account}")
        assert consent.status_code in (302, 303), consent.text
        callback = await self.client.get(consent.headers["location"])
        assert callback.status_code == 200, callback.text
        accounts: list[dict[str, Any]] = callback.json()["accounts"]
        return accounts

    async def access_token(self, account_id: str, platform: Platform, url: str | None = None) -> httpx.Response:
        return await self.client.get(
            f"{url or self.url}/internal/v1/accounts/{account_id}/access-token", headers=self.service(platform)
        )

    async def expire(self, account_id: str, seconds_from_now: float = -60) -> None:
        """Pretend time passed: the stored access token expires (or expired) ``seconds_from_now``."""
        async with self.engine.begin() as conn:
            await conn.execute(
                text("UPDATE accounts SET expires_at = now() + make_interval(secs => :s) WHERE id = :id"),
                {"s": seconds_from_now, "id": uuid.UUID(account_id)},
            )

    async def row(self, account_id: str) -> dict[str, Any]:
        async with self.engine.connect() as conn:
            result = await conn.execute(text("SELECT * FROM accounts WHERE id = :id"), {"id": uuid.UUID(account_id)})
            return dict(result.mappings().one())


async def events_settled(harness: Harness, event_log: EventLog) -> None:
    """A marker: connect a new account through ``harness``'s service and wait for its ``account.connected``. The
    outbox relay publishes in the order events were written, so every event the service wrote before has arrived."""
    _, team = await harness.team()
    [account] = await harness.connect(Platform.X, team, f"marker{uuid.uuid4().hex[:10]}")
    await event_log.of_type(account["id"], "account.connected")


def settings_for(
    database_url: str, amqp_url: str, sandboxes: Sandboxes, port: int, credentials: dict[str, str], **overrides: Any
) -> TokensSettings:
    values: dict[str, Any] = {
        "environment": "test",
        "database_url": database_url,
        "amqp_url": amqp_url,
        "http_port": port,
        "public_base_url": f"http://127.0.0.1:{port}",
        "allowed_redirect_uris": (ALLOWED_REDIRECT_URI,),  # outside development, connecting needs an allow-list
        "db_pool_size": 10,
        "token_keys": {"k1": KEY_1},
        "token_primary_key": "k1",
        "service_credentials": credentials,
        "x": XSettings.for_sandbox(
            sandboxes.urls[Platform.X], client_id="herald-dev", client_secret="herald-dev-secret"
        ),
        "linkedin": LinkedInSettings.for_sandbox(sandboxes.urls[Platform.LINKEDIN]),
        "meta": MetaSettings.for_sandbox(sandboxes.urls[Platform.META]),
        "refresh_timeout_seconds": 1.0,
        "refresh_backoff_seconds": 0.3,
        "refresh_backoff_max_seconds": 1.0,
        "refresh_loop_enabled": False,
        "outbox_poll_interval_seconds": 0.2,
        "graceful_timeout_seconds": 5,
        **overrides,
    }
    return TokensSettings.model_validate(values)


def service_credentials() -> tuple[dict[str, str], dict[str, str]]:
    """``(bearer tokens by service name, SHA-256s to configure)`` for the three publishers."""
    tokens, hashes = {}, {}
    for name in PUBLISHERS.values():
        tokens[name], hashes[name] = new_service_credential(name)
    return tokens, hashes


@contextlib.contextmanager
def start_service(settings: TokensSettings) -> Iterator[str]:
    _, app = build(settings)
    with serve(app, port=settings.http_port) as url:
        yield url


def schema_engine(database_url: str) -> AsyncEngine:
    return create_async_engine(database_url, connect_args={"server_settings": {"search_path": "tokens"}})


@contextlib.asynccontextmanager
async def fresh_database(database_base_url: str) -> AsyncIterator[str]:
    """A database of its own (for tests whose service must not see, or touch, the other tests' accounts)."""
    name = f"herald_test_tokens_{uuid.uuid4().hex[:8]}"
    parts = urlsplit(database_base_url)
    admin_dsn = database_base_url.replace("postgresql+asyncpg://", "postgresql://", 1)
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    try:
        yield urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))
    finally:
        conn = await asyncpg.connect(admin_dsn)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


@pytest.fixture(scope="session")
async def event_log(amqp_url: str) -> AsyncIterator[EventLog]:
    """Bound before any service publishes: the kit publishes mandatory, so an unbound event would be refused.

    Only the tokens service's five event types are bound, so other tests' unroutable publishes stay unroutable.
    """
    connection = await aio_pika.connect_robust(amqp_url)
    channel = await connection.channel()
    exchange = await channel.declare_exchange(EVENTS_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)
    queue = await channel.declare_queue(f"tokens-tests-{os.getpid()}", exclusive=True)
    for event in (AccountConnected, AccountDisconnected, AccountReauthRequired, TokenRefreshed, TokenRefreshFailed):
        await queue.bind(exchange, binding_key(event))
    yield EventLog(queue)
    await connection.close()


@pytest.fixture(scope="session")
def sandboxes() -> Iterator[Sandboxes]:
    with serve_sandboxes() as served:
        yield served


@pytest.fixture(scope="session")
async def harness(
    database_url: str, amqp_url: str, sandboxes: Sandboxes, event_log: EventLog
) -> AsyncIterator[Harness]:
    tokens, hashes = service_credentials()
    settings = settings_for(database_url, amqp_url, sandboxes, reserve_port(), hashes)
    engine = schema_engine(database_url)
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=200)) as client:
        with start_service(settings) as url:
            yield Harness(url, settings, sandboxes, engine, tokens, client)
    await engine.dispose()
