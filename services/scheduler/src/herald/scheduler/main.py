"""Composition root: ``build(settings)`` wires the scheduler; ``main()`` serves it (``python -m herald.scheduler``)."""

from __future__ import annotations

import datetime as dt
from functools import partial
from pathlib import Path

import httpx
from fastapi import FastAPI

from herald.contracts.identity import KeyChannel
from herald.kit import db
from herald.kit.admin import KeyAdmin, admin_router
from herald.kit.auth import service_principal
from herald.kit.consumers import Intake
from herald.kit.outbox import OutboxRelay
from herald.kit.runtime import ServiceRuntime
from herald.kit.settings import load_settings
from herald.platforms.registry import rules_for
from herald.scheduler import api, handlers
from herald.scheduler.due_loop import DueLoop, due_channel
from herald.scheduler.media_client import MediaClient, MediaResolver
from herald.scheduler.models import outbox_table
from herald.scheduler.service import Scheduler
from herald.scheduler.settings import SchedulerSettings
from herald.scheduler.tracking import Tracker

MIGRATIONS = Path(__file__).parent / "migrations"
DESCRIPTION = """\
Owns content and its distributions (one content item, one account, one platform, one time) and decides when each
is due. Authenticate with a team API key: `Authorization: Bearer hk_...`. Every event goes out through a
transactional outbox; due distributions are handed to the platform publishers as `PublishRequested` events.
"""


def build(settings: SchedulerSettings, *, media: MediaResolver | None = None) -> tuple[ServiceRuntime, FastAPI]:
    """Wire every part of the scheduler; nothing is opened until the app's lifespan starts. ``media`` replaces the
    media service client (tests)."""
    runtime = ServiceRuntime(settings, schema=settings.db_schema, migrations=MIGRATIONS, public_api=True)
    engine, broker, publisher, api_keys = runtime.engine, runtime.broker, runtime.events, runtime.api_keys

    if media is None:
        http = httpx.AsyncClient()
        runtime.on_stop(http.aclose)
        media = MediaClient(
            http,
            settings.media_url,
            None if settings.service_token is None else settings.service_token.get_secret_value(),
            timeout_seconds=settings.media_timeout_seconds,
        )
    envelopes = publisher.envelope
    # Scheduling runs one or two single statements on a bare asyncpg pool (no SQLAlchemy checkout per request),
    # which hands its connections to concurrent API calls in arrival order (herald.kit.db.SchemaPool).
    scheduling_pool = db.SchemaPool(settings, settings.db_schema, size=settings.scheduling_pool_size)
    runtime.on_start(scheduling_pool.open)
    runtime.on_stop(scheduling_pool.close)
    scheduler = Scheduler(
        engine,
        scheduling_pool,
        envelopes,
        settings,
        rules_for,
        due_channel=due_channel(settings.db_schema),
        media=media,
    )
    tracker = Tracker(
        engine,
        envelopes,
        retention=dt.timedelta(hours=settings.processed_event_retention_hours),
        interval_seconds=settings.housekeeping_interval_seconds,
    )
    runtime.add_background(tracker.housekeeping)
    intake = Intake(broker, publisher, settings.work_queue, registry=runtime.registry)
    intake.watch_dead_letters()
    work = handlers.WorkQueueBatches(broker, publisher, engine, intake, tracker, settings, runtime.registry)
    runtime.on_start(partial(handlers.declare, broker, settings))
    runtime.add_background(work.run)
    runtime.add_readiness_check("work_queue", work.ready)

    relay = OutboxRelay(
        engine,
        publisher,
        runtime.registry,
        table=outbox_table,
        settings=settings.relay_settings(),
    )
    relay.watch(scheduling_pool)  # scheduling writes its DistributionScheduled events through that pool
    runtime.add_background(relay.run)
    due = DueLoop(engine, envelopes, settings, runtime.registry, channel=due_channel(settings.db_schema))
    runtime.add_background(due.run)

    app = runtime.create_app(
        "Herald scheduler",
        [
            api.router(scheduler, api_keys, max_page_size=settings.max_page_size),
            api.internal_router(scheduler, service_principal(settings.service_credentials)),
            admin_router(KeyAdmin(api_keys, publisher, KeyChannel.ADMIN_API), settings.bootstrap_secret),
        ],
        description=DESCRIPTION,
    )
    api.install_error_handlers(app)
    return runtime, app


def main() -> None:
    runtime, app = build(load_settings(SchedulerSettings))
    runtime.serve(app)
