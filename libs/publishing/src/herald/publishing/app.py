"""The composition root shared by the three publisher deployments: ``build(settings)`` wires one platform."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from faststream import AckPolicy
from faststream.rabbit import Channel

from herald.contracts.platform import Platform
from herald.kit import db
from herald.kit.consumers import Intake, undecoded, work_queue
from herald.kit.runtime import ServiceRuntime
from herald.kit.settings import load_settings
from herald.platforms.registry import build_kit
from herald.publishing.handlers import PublisherHandler
from herald.publishing.ledger import Ledger
from herald.publishing.metrics import PublisherMetrics
from herald.publishing.service import PublishPipeline
from herald.publishing.settings import PublisherSettings
from herald.publishing.tokens import TokenClient
from herald.publishing.topology import PublisherTopology

MIGRATIONS = Path(__file__).parent / "migrations"


def build(settings: PublisherSettings) -> tuple[ServiceRuntime, FastAPI]:
    """Wire a publisher for ``settings.platform``. Nothing is opened until the app's lifespan starts."""
    platform = settings.platform
    schema = f"publisher_{platform.value}"
    runtime = ServiceRuntime(settings, schema=schema, migrations=MIGRATIONS)
    broker = runtime.broker
    http = httpx.AsyncClient(
        timeout=settings.platforms.for_platform(platform).timeout_seconds,
        limits=httpx.Limits(max_connections=settings.prefetch * 2, max_keepalive_connections=settings.prefetch),
    )
    topology = PublisherTopology(platform, settings.retry_tiers_ms, settings.delivery_limit)
    metrics = PublisherMetrics.create(runtime.registry, platform, topology.work_queue)
    # The ledger's own pool: single statements without transactions (see Ledger), on the service's schema.
    ledger_engine = db.create_engine(settings, schema, autocommit=True)
    ledger = Ledger(ledger_engine)
    kit = build_kit(platform, settings.platforms, http)
    pipeline = PublishPipeline(
        client=kit.client,
        rules=kit.rules,
        ledger=ledger,
        tokens=TokenClient(
            http, settings.tokens_url, settings.service_token.get_secret_value(), settings.token_cache_seconds
        ),
        outcomes=runtime.events,
        metrics=metrics,
        tiers_ms=settings.retry_tiers_ms,
        in_flight_grace=dt.timedelta(seconds=settings.in_flight_grace_seconds),
        service_name=settings.service_name,
    )
    intake = Intake(
        broker, runtime.events, topology.work_queue, registry=runtime.registry, delivery_limit=settings.delivery_limit
    )
    intake.watch_dead_letters()
    handler = PublisherHandler(
        broker=broker,
        intake=intake,
        pipeline=pipeline,
        ledger=ledger,
        outcomes=runtime.events,
        topology=topology,
        metrics=metrics,
        publish_timeout=settings.publish_timeout_seconds,
    )

    @broker.subscriber(
        work_queue(topology.work_queue),
        channel=Channel(prefetch_count=settings.prefetch),
        ack_policy=AckPolicy.MANUAL,
        decoder=undecoded,
    )
    async def consume(message: Any) -> None:  # the RabbitMessage itself (see undecoded): nothing injected
        await handler(message)

    async def declare() -> None:
        await topology.declare(broker)

    runtime.on_start(declare)
    runtime.on_stop(http.aclose)
    runtime.on_stop(ledger_engine.dispose)
    app = runtime.create_app(f"Herald publisher ({platform.value})")
    return runtime, app


def main(platform: Platform) -> None:
    """Entry point of ``python -m herald.publisher_<platform>``."""
    settings = load_settings(PublisherSettings, platform=platform, service_name=f"publisher-{platform.value}")
    runtime, app = build(settings)
    runtime.serve(app)
