"""Every metric the Grafana dashboard and the alert rules read is exported by a running service.

All seven Herald services are built with their real ``build(settings)`` and run (lifespans: migrations, broker,
consumers, loops) on the real PostgreSQL and RabbitMQ (and the media service on the tests' SeaweedFS); their
``/metrics`` endpoints are scraped over ASGI. Metrics
that only appear once something happened are exercised: publisher-x publishes through the X sandbox (a retry, a
reconciled unknown outcome) and parks a malformed message, and the audit service records the resulting events.
RabbitMQ's metrics are checked against the real prometheus plugin, on the endpoints prometheus.yml scrapes.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aio_pika
import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from herald.audit.main import build as build_audit
from herald.audit.settings import AuditSettings
from herald.contracts.base import SYSTEM_ACTOR
from herald.contracts.platform import Platform
from herald.contracts.publishing import PublishRequested
from herald.kit.broker import EventPublisher, build_broker, declare_exchanges
from herald.kit.runtime import ServiceRuntime
from herald.kit.settings import ServiceSettings
from herald.media.main import build as build_media
from herald.media.settings import MediaSettings
from herald.objectstore import ObjectStore
from herald.platforms.x import XSettings
from herald.publishing.app import build as build_publisher
from herald.publishing.settings import PublisherSettings
from herald.sandboxes.x.app import create_app as create_x_sandbox
from herald.scheduler.main import build as build_scheduler
from herald.scheduler.settings import SchedulerSettings
from herald.tokens.main import build as build_tokens
from herald.tokens.settings import TokensSettings
from tests.deploy.promql import metric_names
from tests.deploy.services import DEPLOY, SERVICES, load_yaml
from tests.support.eventually import eventually
from tests.support.fake_tokens import FakeTokenService
from tests.support.servers import serve

RULES = DEPLOY / "prometheus" / "rules" / "herald.rules.yml"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "herald.json"
SYNTHETIC = {"up"}  # written by Prometheus itself for every target
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{| )", re.MULTILINE)
TIERS_MS = (100, 200)


def sample_names(exposition: str) -> set[str]:
    return set(_SAMPLE.findall(exposition))


def rule_expressions() -> tuple[list[str], set[str]]:
    """The expressions of every rule, and the names recording rules define."""
    groups = load_yaml(RULES)["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    return [rule["expr"] for rule in rules], {rule["record"] for rule in rules if "record" in rule}


def dashboard_expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


def used_metrics() -> set[str]:
    expressions, recorded = rule_expressions()
    used = set().union(*(metric_names(e) for e in [*expressions, *dashboard_expressions()]))
    return used - recorded - SYNTHETIC


def test_the_used_metrics_are_found_in_the_rules_and_dashboard() -> None:
    # Guards the extraction itself: an empty or wrong set would make the scrape test below pass vacuously.
    used = used_metrics()
    assert {
        "herald_publish_attempts_total",
        "herald_publish_lateness_seconds_bucket",
        "herald_accounts_needing_reauth",
        "herald_scheduler_backlog",
        "herald_audit_lag_seconds_bucket",
        "rabbitmq_detailed_queue_messages",
        "faststream_received_processed_messages_total",
        "herald_media_processing_failures_total",
        "herald_media_cleanup_removals_total",
    } <= used
    assert not [name for name in used if not re.fullmatch(r"(herald|faststream|rabbitmq)_[a-z0-9_]+", name)]


@dataclass
class Running:
    apps: dict[str, FastAPI]
    sandbox: httpx.AsyncClient
    sandbox_account: str
    account_id: uuid.UUID
    events: EventPublisher
    channel: aio_pika.abc.AbstractChannel

    async def scrape(self, service: str) -> str:
        transport = httpx.ASGITransport(app=self.apps[service])
        async with httpx.AsyncClient(transport=transport, base_url=f"http://{service}") as client:
            response = await client.get("/metrics")
        response.raise_for_status()
        return response.text

    async def exported(self) -> set[str]:
        return set().union(*[sample_names(await self.scrape(name)) for name in self.apps])

    def request(self) -> PublishRequested:
        now = dt.datetime.now(dt.UTC)
        return PublishRequested(
            team_id=uuid.uuid4(),
            correlation_id=f"deploy-{uuid.uuid4().hex[:8]}",
            actor=SYSTEM_ACTOR,
            occurred_at=now,
            distribution_id=uuid.uuid4(),
            content_id=uuid.uuid4(),
            platform=Platform.X,
            account_id=self.account_id,
            title="Metrics test",
            text=f"Herald metrics test {uuid.uuid4().hex[:10]}",
            scheduled_at=now,
            max_attempts=3,
            base_delay_seconds=1,  # longer than every tier: retries use the longest (200 ms)
        )

    async def arm(self, **fault: Any) -> None:
        (
            await self.sandbox.post("/_sandbox/faults", json={"account": self.sandbox_account, **fault})
        ).raise_for_status()


def _runtimes(
    amqp_url: str, database_url: str, sandbox_url: str, tokens_url: str, store: ObjectStore
) -> dict[str, tuple[Any, ...]]:
    common: dict[str, Any] = {"amqp_url": amqp_url, "database_url": database_url, "graceful_timeout_seconds": 2}
    publishers = {
        name: build_publisher(
            PublisherSettings(
                **common,
                service_name=name,
                platform=Platform(name.removeprefix("publisher-")),
                tokens_url=tokens_url,
                retry_tiers_ms=TIERS_MS,
                x=XSettings.for_sandbox(sandbox_url, client_id="herald-dev", client_secret="herald-dev-secret"),
            )
        )
        for name in ("publisher-x", "publisher-linkedin", "publisher-meta")
    }
    return {
        "scheduler": build_scheduler(
            SchedulerSettings(
                **common, db_schema="deploy_scheduler", work_queue="deploy-scheduler", due_max_sleep_seconds=0.5
            )
        ),
        "tokens": build_tokens(TokensSettings(**common, refresh_loop_enabled=False)),
        "audit": build_audit(AuditSettings(**common, queue_name="deploy-audit", batch_max_wait_seconds=0.01)),
        "media": build_media(MediaSettings(**common, cleanup_enabled=False), store),
        **publishers,
    }


@pytest.fixture
async def running(amqp_url: str, database_url: str, objectstore: ObjectStore) -> AsyncIterator[Running]:
    sandbox_account = f"acct-{uuid.uuid4().hex[:8]}"
    with serve(create_x_sandbox()) as sandbox_url:
        fake_tokens = FakeTokenService(sandbox_url)
        with serve(fake_tokens.app()) as tokens_url:
            # The media service gets a client of its own on the test's bucket (it closes it when it stops).
            media_store = ObjectStore(objectstore.settings)
            built = _runtimes(amqp_url, database_url, sandbox_url, tokens_url, media_store)
            broker = build_broker(ServiceSettings(amqp_url=amqp_url, service_name="deploy-test"), CollectorRegistry())
            connection = await aio_pika.connect_robust(amqp_url)
            async with AsyncExitStack() as stack, httpx.AsyncClient(base_url=sandbox_url) as sandbox:
                await broker.connect()
                await declare_exchanges(broker)
                stack.push_async_callback(connection.close)
                stack.push_async_callback(_delete_queues, connection)  # after the services stopped consuming
                stack.push_async_callback(broker.stop)
                runtimes: list[ServiceRuntime] = [runtime for runtime, _ in built.values()]
                await asyncio.gather(*(runtime.migrate() for runtime in runtimes))  # each one's own schema
                for runtime in runtimes:
                    await stack.enter_async_context(runtime.lifespan())
                minted = (await sandbox.post("/_sandbox/tokens", json={"account": sandbox_account})).json()
                me = await sandbox.get("/2/users/me", headers={"Authorization": f"Bearer {minted['access_token']}"})
                account_id = uuid.uuid4()
                fake_tokens.register(account_id, sandbox_account, me.json()["data"]["id"])
                channel = await connection.channel()
                yield Running(
                    apps={name: app for name, (_, app) in built.items()},
                    sandbox=sandbox,
                    sandbox_account=sandbox_account,
                    account_id=account_id,
                    events=EventPublisher(broker, source="herald/deploy-test", timeout=5),
                    channel=channel,
                )


def _declared_queues() -> list[str]:
    own = ["deploy-audit", "deploy-scheduler"]
    publishers = [f"publisher.{platform.value}" for platform in Platform]
    tiers = [f"{queue}.retry.{tier}" for queue in publishers for tier in TIERS_MS]
    return [*own, *(f"{q}.dead" for q in own), *publishers, *(f"{q}.dead" for q in publishers), *tiers]


async def _delete_queues(connection: aio_pika.abc.AbstractRobustConnection) -> None:
    """Every queue the services declared here. Left in the session's vhost, a publisher's work queue would collect
    what later tests publish to herald.events (the kit's malformed samples, say) and park it in front of the
    publishing tests; the audit queue would collect every later event."""
    channel = await connection.channel()
    for queue in _declared_queues():
        await channel.queue_delete(queue)
    await channel.close()


async def _exercise_publisher(running: Running) -> None:
    """A retry, a reconciled unknown outcome and a parked message on publisher-x."""
    await running.arm(kind="error", error="server_error", count=1)
    await running.events.publish(running.request())
    await running.arm(kind="accept_then_fail", mode="503", count=1)
    await running.events.publish(running.request())
    await running.channel.default_exchange.publish(
        aio_pika.Message(b"not an event", message_id="deploy-malformed"), routing_key="publisher.x"
    )


async def test_every_metric_the_dashboard_and_alerts_use_is_exported(running: Running) -> None:
    used = used_metrics()
    herald_used = {name for name in used if not name.startswith("rabbitmq_")}
    assert set(running.apps) == set(SERVICES)

    await _exercise_publisher(running)

    async def all_exported() -> bool:
        missing = herald_used - await running.exported()
        assert not missing
        return True

    await eventually(all_exported, within=30, interval=0.2)
    # Each service answers with its own metrics, not only the publisher's.
    assert "herald_scheduler_backlog" in sample_names(await running.scrape("scheduler"))
    assert "herald_accounts_needing_reauth" in sample_names(await running.scrape("tokens"))
    assert "herald_audit_events_written_total" in sample_names(await running.scrape("audit"))
    assert "herald_media_uploads_refused_total" in sample_names(await running.scrape("media"))
    assert "herald_media_processing_failures_total" in sample_names(await running.scrape("publisher-meta"))
    for name in ("publisher-linkedin", "publisher-meta"):
        assert "herald_publish_attempts_total" in (await running.scrape(name))  # declared, no series yet


async def test_every_rabbitmq_metric_used_is_exported_by_the_plugin(amqp_url: str) -> None:
    used = {name for name in used_metrics() if name.startswith("rabbitmq_")}
    assert used
    host = urlsplit(amqp_url).hostname or "127.0.0.1"
    base = f"http://{host}:{os.environ.get('HERALD_TEST_RABBIT_PROMETHEUS_PORT', '15692')}"
    # The test vhost has queues by now (this session declares them), so the per-queue families have series.
    connection = await aio_pika.connect_robust(amqp_url)
    channel = await connection.channel()
    await channel.declare_queue(f"deploy-plugin-{uuid.uuid4().hex[:6]}.dead", exclusive=True)
    exported: set[str] = set()
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        for job in load_yaml(DEPLOY / "prometheus" / "prometheus.yml")["scrape_configs"]:
            if job["job_name"].startswith("rabbitmq"):
                response = await client.get(job.get("metrics_path", "/metrics"), params=job.get("params", {}))
                response.raise_for_status()
                exported |= sample_names(response.text)
    await connection.close()
    assert not used - exported
