"""The composition root shared by the three publisher deployments: ``build(settings)`` wires one platform."""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Mapping
from pathlib import Path

import httpx
from fastapi import FastAPI

from herald.contracts.platform import Platform
from herald.kit import db
from herald.kit.amqp_consumer import ConcurrentConsumer
from herald.kit.consumers import Intake
from herald.kit.runtime import ServiceRuntime
from herald.kit.settings import load_settings
from herald.objectstore import ObjectStore, ObjectStoreMediaSource, objectstore_settings_from_env
from herald.platforms.base import MediaSource
from herald.platforms.registry import build_kit
from herald.platforms.transport import platform_http_client
from herald.publishing.handlers import PublisherHandler
from herald.publishing.ledger import Ledger
from herald.publishing.metrics import PublisherMetrics
from herald.publishing.service import PublishPipeline
from herald.publishing.settings import PublisherSettings
from herald.publishing.tokens import TokenClient
from herald.publishing.topology import PublisherTopology

MIGRATIONS = Path(__file__).parent / "migrations"
OBJECTSTORE_ENDPOINT_ENV = "HERALD_OBJECTSTORE_ENDPOINT_URL"
log = logging.getLogger(__name__)


def build(settings: PublisherSettings, media_source: MediaSource | None = None) -> tuple[ServiceRuntime, FastAPI]:
    """Wire a publisher for ``settings.platform``. Nothing is opened until the app's lifespan starts.

    ``media_source`` is where media bytes are read for platform uploads (the object store); without one, a post with
    media is held for an operator as a configuration error, text posts are unaffected.
    """
    platform = settings.platform
    if logging.getLevelName(settings.log_level.upper()) != logging.DEBUG:
        # httpx logs every request at INFO: a JSON line per post on stdout, ~4% of a publisher's CPU in the burst's
        # profile. Each call is in herald_publish_call_duration_seconds already and the pipeline logs failures.
        logging.getLogger("httpx").setLevel(logging.WARNING)
    schema = f"publisher_{platform.value}"
    runtime = ServiceRuntime(settings, schema=schema, migrations=MIGRATIONS)
    broker = runtime.broker
    # httpx's interface over aiohttp's pool (see herald.platforms.transport): the platform and the token service.
    http = platform_http_client(
        timeout=settings.platforms.for_platform(platform).timeout_seconds,
        limits=httpx.Limits(max_connections=settings.prefetch * 2, max_keepalive_connections=settings.prefetch),
    )
    topology = PublisherTopology(platform, settings.retry_tiers_ms, settings.delivery_limit)
    metrics = PublisherMetrics.create(runtime.registry, platform, topology.work_queue)
    # The ledger's own pool of bare asyncpg connections: single statements without transactions (see Ledger), on
    # the service's schema. Opened after migrations, closed once the consumers have stopped.
    ledger_pool = db.SchemaPool(settings, schema)
    ledger = Ledger(ledger_pool, batch_sizes=metrics.ledger_batch_size)
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
        media_source=media_source,
    )

    def consumer(queue: str, prefetch: int, media_lane: str | None) -> ConcurrentConsumer:
        """A consumer of ``queue`` with its own intake (parking into ``<queue>.dead``) and handler.

        Read straight from aiormq, not through a FastStream subscriber (herald.kit.amqp_consumer): the per-delivery
        layers cost more than the handler's own work around the platform call."""
        limit = settings.delivery_limit
        intake = Intake(broker, runtime.events, queue, registry=runtime.registry, delivery_limit=limit)
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
            media_lane=media_lane,
        )
        return ConcurrentConsumer(settings.amqp_url.get_secret_value(), queue, prefetch=prefetch, handle=handler)

    # Text posts and posts with media on queues and windows of their own (herald.publishing.topology).
    consumers = {
        "consumer": consumer(topology.work_queue, settings.prefetch, topology.media_queue),
        "media consumer": consumer(topology.media_queue, settings.media_prefetch, None),
    }

    async def declare() -> None:
        await topology.declare(broker)

    runtime.on_start(ledger_pool.open)
    runtime.on_start(declare)
    for name, each in consumers.items():
        runtime.add_background(each.run)
        runtime.add_readiness_check(name, each.ready)
    runtime.on_stop(http.aclose)
    runtime.on_stop(ledger_pool.close)
    app = runtime.create_app(f"Herald publisher ({platform.value})")
    return runtime, app


def main(platform: Platform) -> None:
    """Entry point of ``python -m herald.publisher_<platform>``."""
    settings = load_settings(PublisherSettings, platform=platform, service_name=f"publisher-{platform.value}")
    store = open_object_store(os.environ)
    runtime, app = build(settings, ObjectStoreMediaSource(store) if store is not None else None)
    if store is not None:
        runtime.on_stop(store.aclose)
    runtime.serve(app)


def open_object_store(environ: Mapping[str, str]) -> ObjectStore | None:
    """The object store named by ``HERALD_OBJECTSTORE_*``, or ``None`` when none is configured (text-only)."""
    if not environ.get(OBJECTSTORE_ENDPOINT_ENV, "").strip():
        log.warning(
            "no object store configured (%s unset): posts with media will wait for an operator",
            OBJECTSTORE_ENDPOINT_ENV,
        )
        return None
    return ObjectStore(objectstore_settings_from_env(environ))
