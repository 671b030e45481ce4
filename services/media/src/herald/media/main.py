"""Composition root of the media service: ``build(settings) -> (runtime, app)`` and the command line.

``python -m herald.media``   serve (port 8004 by default)
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from pathlib import Path

import httpx
from fastapi import FastAPI

from herald.kit.auth import service_principal, team_principal
from herald.kit.logging import configure_logging, register_secret
from herald.kit.outbox import OutboxRelay, RelaySettings
from herald.kit.runtime import ServiceRuntime
from herald.kit.settings import load_settings
from herald.media.api import install_error_handlers, internal_router, team_router
from herald.media.cleanup import Cleanup
from herald.media.events import EventWriter
from herald.media.holders import HolderLookup, SchedulerHolders
from herald.media.metrics import MediaMetrics
from herald.media.models import outbox
from herald.media.service import MediaLibrary
from herald.media.settings import MediaSettings
from herald.media.storage import ObjectStorage
from herald.media.uploads import ResumableUploads
from herald.objectstore import ObjectStore, ObjectStoreError, objectstore_settings_from_env

log = logging.getLogger(__name__)
BUCKET_RETRY_MAX_SECONDS = 5.0

SCHEMA = "media"
MIGRATIONS = Path(__file__).parent / "migrations"
DESCRIPTION = "The media library: images and videos in the object store, typed from their bytes, deduplicated."


def build(
    settings: MediaSettings, store: ObjectStorage, *, holders: HolderLookup | None = None
) -> tuple[ServiceRuntime, FastAPI]:
    """Wire the service around an object store client (created at start if missing, closed at stop).
    ``holders`` replaces the scheduler lookup (tests)."""
    runtime = ServiceRuntime(settings, schema=SCHEMA, migrations=MIGRATIONS, public_api=True)
    if settings.service_token is not None:
        register_secret(settings.service_token.get_secret_value())
    http = httpx.AsyncClient()
    lookup = holders or SchedulerHolders(
        http, settings.scheduler_url, settings.service_token, settings.scheduler_timeout_seconds
    )
    writer = EventWriter(runtime.events.envelope)
    metrics = MediaMetrics(runtime.registry)
    library = MediaLibrary(runtime.engine, store, writer, metrics, lookup, settings)
    uploads = ResumableUploads(library)
    relay = OutboxRelay(
        runtime.engine,
        runtime.events,
        runtime.registry,
        table=outbox,
        settings=RelaySettings(poll_interval_seconds=settings.outbox_poll_interval_seconds),
    )
    cleanup = Cleanup(runtime.engine, store, writer, metrics, settings)
    runtime.add_background(lambda stop: _ensure_bucket(store, stop))
    runtime.on_stop(store.aclose)
    runtime.add_readiness_check("objectstore", store.bucket_exists)
    runtime.add_background(relay.run)
    if settings.cleanup_enabled:
        runtime.add_background(cleanup.run)
    runtime.on_stop(http.aclose)
    routers = [
        internal_router(library, service_principal(settings.service_credentials)),
        team_router(library, uploads, settings, team_principal(runtime.api_keys)),
    ]
    app = runtime.create_app("Herald media", routers, DESCRIPTION)
    install_error_handlers(app)
    app.state.library = library
    app.state.cleanup = cleanup
    return runtime, app


async def _ensure_bucket(store: ObjectStorage, stop: asyncio.Event) -> None:
    """Create the bucket once the object store answers. A store still starting (SeaweedFS electing its master can
    take tens of seconds) must not stop the service: until the bucket exists ``/readyz`` says not ready and uploads
    answer 503, then everything works without a restart."""
    delay = 0.2
    while not stop.is_set():
        try:
            await store.ensure_bucket()
            return
        except ObjectStoreError as error:
            log.warning("object store not ready; retrying", extra={"error": str(error), "retry_in_s": delay})
        try:
            await asyncio.wait_for(stop.wait(), delay)
        except TimeoutError:
            delay = min(delay * 2, BUCKET_RETRY_MAX_SECONDS)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m herald.media", description=__doc__)
    parser.add_argument("command", nargs="?", default="serve", choices=["serve"])
    parser.parse_args()
    settings = load_settings(MediaSettings)
    configure_logging(settings.service_name, settings.log_level)
    store = ObjectStore(objectstore_settings_from_env())
    runtime, app = build(settings, store)
    runtime.serve(app)
