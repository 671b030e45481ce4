"""A real publisher (in-process) on the real RabbitMQ and PostgreSQL, against a platform sandbox over HTTP."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import aio_pika
import httpx
import pytest
from prometheus_client import CollectorRegistry

from herald.contracts.base import SYSTEM_ACTOR, Event
from herald.contracts.platform import Platform
from herald.contracts.publishing import PublishRequested
from herald.contracts.routing import EVENTS_EXCHANGE, PUBLISH_OUTCOME_BINDINGS
from herald.kit.broker import EventPublisher, build_broker, declare_exchanges
from herald.kit.settings import ServiceSettings
from herald.platforms.x import XSettings
from herald.publishing.app import build
from herald.publishing.settings import PublisherSettings
from herald.publishing.topology import PublisherTopology
from herald.sandboxes.x.app import create_app
from tests.support.eventually import eventually
from tests.support.fake_tokens import FakeTokenService
from tests.support.servers import serve

TIERS_MS = (100, 200, 400)


@dataclass
class Stack:
    """Everything a publisher test touches."""

    sandbox: httpx.AsyncClient
    tokens: FakeTokenService
    events: EventPublisher
    outcomes: aio_pika.abc.AbstractQueue
    channel: aio_pika.abc.AbstractChannel
    settings: PublisherSettings
    account_id: uuid.UUID = field(default_factory=uuid.uuid4)
    sandbox_account: str = ""
    seen: dict[str, list[tuple[str, dict[str, Any], str]]] = field(default_factory=dict)
    registry: CollectorRegistry | None = None  # the in-process publisher's metrics

    def request(self, text: str | None = None, **overrides: Any) -> PublishRequested:
        now = dt.datetime.now(dt.UTC)
        values: dict[str, Any] = {
            "team_id": uuid.uuid4(),
            "correlation_id": f"test-{uuid.uuid4().hex[:8]}",
            "actor": SYSTEM_ACTOR,
            "occurred_at": now,
            "distribution_id": uuid.uuid4(),
            "content_id": uuid.uuid4(),
            "platform": Platform.X,
            "account_id": self.account_id,
            "title": "Test post",
            "text": text or f"Herald pipeline test {uuid.uuid4().hex[:10]}",
            "scheduled_at": now,
            "max_attempts": 5,
            "base_delay_seconds": 1,
        }
        return PublishRequested(**(values | overrides))

    async def send(self, event: Event, event_id: str | None = None) -> str:
        return await self.events.publish(event, event_id=event_id)

    async def outcomes_for(
        self, distribution_id: uuid.UUID, until_type: str, timeout: float = 15
    ) -> list[tuple[str, dict[str, Any], str]]:
        """(type, payload, event id) of a distribution's outcome events, once one of ``until_type`` has arrived."""

        async def arrived() -> list[tuple[str, dict[str, Any], str]]:
            while (message := await self.outcomes.get(fail=False)) is not None:
                await message.ack()
                payload = json.loads(message.body)
                kind = str(message.headers["cloudEvents_type"])
                self.seen.setdefault(payload["distribution_id"], []).append((kind, payload, message.message_id or ""))
            seen = self.seen.get(str(distribution_id), [])
            return seen if any(kind.startswith(until_type) for kind, _, _ in seen) else []

        seen = await eventually(arrived, within=timeout, interval=0.02, what=f"a {until_type} outcome")
        self.seen[str(distribution_id)] = []
        return seen

    async def posts(self) -> list[dict[str, Any]]:
        response = await self.sandbox.get("/_sandbox/posts", params={"account": self.sandbox_account})
        response.raise_for_status()
        result: list[dict[str, Any]] = response.json()
        return result

    async def arm(self, **fault: Any) -> None:
        fault.setdefault("account", self.sandbox_account)
        (await self.sandbox.post("/_sandbox/faults", json=fault)).raise_for_status()


@pytest.fixture
def sandbox_url() -> Iterator[str]:
    with serve(create_app()) as url:
        yield url


@pytest.fixture
async def infra(amqp_url: str, database_url: str, sandbox_url: str) -> AsyncIterator[Stack]:
    """Sandbox, token service stand-in, a test broker and an outcome listener; no publisher yet."""
    tokens = FakeTokenService(sandbox_url)
    sandbox_account = f"acct-{uuid.uuid4().hex[:8]}"
    with serve(tokens.app()) as tokens_url:
        settings = PublisherSettings(
            amqp_url=amqp_url,
            database_url=database_url,
            service_name="publisher-x",
            platform=Platform.X,
            tokens_url=tokens_url,
            retry_tiers_ms=TIERS_MS,
            in_flight_grace_seconds=1.0,
            token_cache_seconds=60,
            x=XSettings.for_sandbox(
                sandbox_url, client_id="herald-dev", client_secret="herald-dev-secret", timeout_seconds=1.0
            ),
        )
        test_broker = build_broker(ServiceSettings(amqp_url=amqp_url, service_name="test"), CollectorRegistry())
        async with httpx.AsyncClient(base_url=sandbox_url) as sandbox:
            await test_broker.connect()
            await declare_exchanges(test_broker)
            # The work queue must exist before the first request is published (a publisher may not run yet).
            await PublisherTopology(Platform.X, TIERS_MS).declare(test_broker)
            connection = await aio_pika.connect_robust(amqp_url)
            channel = await connection.channel()
            outcomes = await channel.declare_queue(exclusive=True)
            for key in PUBLISH_OUTCOME_BINDINGS:
                await outcomes.bind(EVENTS_EXCHANGE, routing_key=key)
            minted = (await sandbox.post("/_sandbox/tokens", json={"account": sandbox_account})).json()
            me = await sandbox.get("/2/users/me", headers={"Authorization": f"Bearer {minted['access_token']}"})
            stack = Stack(
                sandbox=sandbox,
                tokens=tokens,
                events=EventPublisher(test_broker, source="/herald/test", timeout=5),
                outcomes=outcomes,
                channel=channel,
                settings=settings,
                sandbox_account=sandbox_account,
            )
            tokens.register(stack.account_id, sandbox_account, me.json()["data"]["id"])
            yield stack
            await connection.close()
            await test_broker.stop()


@pytest.fixture
async def stack(infra: Stack) -> AsyncIterator[Stack]:
    """``infra`` plus a publisher running in this process."""
    runtime, _ = build(infra.settings)
    infra.registry = runtime.registry
    async with runtime.lifespan():
        yield infra
