"""The composition root every Herald service shares: I/O opened in a lifespan, closed on SIGTERM.

A service builds a :class:`ServiceRuntime` from its settings, registers its subscribers on ``runtime.broker`` and
its background loops with :meth:`ServiceRuntime.add_background`, then serves :meth:`ServiceRuntime.create_app`.
Start-up order: migrations (identity schema if the service has a public API, then its own), broker connection and
topology, consumers, background loops. Shutdown (SIGTERM or Ctrl-C, via uvicorn) runs it backwards: loops are
asked to stop, the broker stops taking deliveries and waits up to the graceful timeout for in-flight handlers
(unfinished ones are requeued by the broker when the channel closes), then connections close.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import APIRouter, FastAPI
from faststream.rabbit import RabbitBroker
from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncEngine
from uvicorn.config import STARTUP_FAILURE

from herald.contracts.envelope import service_source
from herald.kit import db
from herald.kit.amqp_transport import amqp_writes_coalesced, coalesce_amqp_writes
from herald.kit.api import install_api_defaults
from herald.kit.auth import IDENTITY_MIGRATIONS, IDENTITY_SCHEMA, ApiKeyStore
from herald.kit.broker import EventPublisher, build_broker, declare_exchanges
from herald.kit.health import ReadinessCheck, health_router
from herald.kit.logging import configure_logging
from herald.kit.memory import release_free_heap
from herald.kit.migrations import upgrade_all
from herald.kit.settings import ServiceSettings

log = logging.getLogger(__name__)

BackgroundLoop = Callable[[asyncio.Event], Coroutine[Any, Any, None]]
StartHook = Callable[[], Awaitable[None]]


class ServiceRuntime:
    """Owns a service's registry, broker, event publisher, database engine, API-key store and background loops.

    Every service has the broker and the publisher. The engine exists when the runtime is given a ``schema``, and
    the API-key store when it also has a ``public_api``; asking for one the service was not built with is a wiring
    mistake and raises at build time, so callers never handle ``None``.
    """

    def __init__(
        self,
        settings: ServiceSettings,
        *,
        schema: str | None = None,
        migrations: Path | None = None,
        public_api: bool = False,
    ) -> None:
        self.settings = settings
        self.registry = CollectorRegistry()
        self.schema = schema
        self._migrations = migrations
        self._public_api = public_api
        self.broker: RabbitBroker = build_broker(settings, self.registry)
        self.events = EventPublisher(
            self.broker, source=service_source(settings.service_name), timeout=settings.publish_timeout_seconds
        )
        self._engine: AsyncEngine | None = db.create_engine(settings, schema) if schema else None
        self._api_keys: ApiKeyStore | None = (
            ApiKeyStore(self._engine, cache_seconds=settings.api_key_cache_seconds)
            if public_api and self._engine
            else None
        )
        self._loops: list[BackgroundLoop] = []
        self._on_start: list[StartHook] = []
        self._on_stop: list[StartHook] = []
        self._checks: dict[str, ReadinessCheck] = {}
        if self._engine is not None:
            engine = self._engine
            self._checks["database"] = lambda: db.ping(engine)
        broker = self.broker
        self._checks["broker"] = lambda: broker.ping(timeout=1.0)

    @property
    def engine(self) -> AsyncEngine:
        """The database engine, confined to the service's schema."""
        if self._engine is None:
            raise RuntimeError(f"{self.settings.service_name} has no database: build its runtime with a schema")
        return self._engine

    @property
    def api_keys(self) -> ApiKeyStore:
        """The team API keys of a service with a public API."""
        if self._api_keys is None:
            raise RuntimeError(f"{self.settings.service_name} has no public API: build its runtime with public_api")
        return self._api_keys

    def add_background(self, loop: BackgroundLoop) -> None:
        """Run ``loop(stop)`` for the service's lifetime; it must return soon after ``stop`` is set."""
        self._loops.append(loop)

    def on_start(self, hook: StartHook) -> None:
        """Run ``hook`` after migrations and broker connection, before consumers start."""
        self._on_start.append(hook)

    def on_stop(self, hook: StartHook) -> None:
        """Run ``hook`` after consumers and loops have stopped, before connections close (e.g. close an HTTP client)."""
        self._on_stop.append(hook)

    def add_readiness_check(self, name: str, check: ReadinessCheck) -> None:
        self._checks[name] = check

    async def migrate(self) -> None:
        targets = []
        if self._public_api:
            targets.append((IDENTITY_MIGRATIONS, IDENTITY_SCHEMA))
        if self.schema and self._migrations:
            targets.append((self._migrations, self.schema))
        await upgrade_all(self.settings.database_url.get_secret_value(), targets)  # one child process for both

    @asynccontextmanager
    async def lifespan(self, _app: FastAPI | None = None) -> AsyncIterator[None]:
        await self.migrate()
        coalesce_amqp_writes()  # before the first AMQP connection of the process (the broker's, then the consumers')
        await self.broker.connect()
        await declare_exchanges(self.broker)
        for hook in self._on_start:
            await hook()
        await self.broker.start()
        stop = asyncio.Event()
        tasks = [asyncio.create_task(loop(stop), name=getattr(loop, "__name__", "loop")) for loop in self._loops]
        release_free_heap()  # what start-up allocated and freed, no longer resident through the service's life
        loop_kind = type(asyncio.get_running_loop()).__module__.split(".")[0]  # "uvloop" or "asyncio"
        log.info(
            "service started",
            extra={
                "service": self.settings.service_name,
                "event_loop": loop_kind,
                "gc_threshold": list(gc.get_threshold()),
                "amqp_writes": "coalesced" if amqp_writes_coalesced() else "per frame",
            },
        )
        try:
            yield
        finally:
            log.info("service stopping")
            stop.set()
            if tasks:
                done, pending = await asyncio.wait(tasks, timeout=self.settings.graceful_timeout_seconds)
                for task in pending:
                    task.cancel()
                for task in done:
                    if not task.cancelled() and task.exception() is not None:
                        log.error("background loop failed", exc_info=task.exception())
            await self.broker.stop()
            for hook in self._on_stop:
                await hook()
            if self._engine is not None:
                await self._engine.dispose()
            log.info("service stopped")

    def create_app(self, title: str, routers: Iterable[APIRouter] = (), description: str = "") -> FastAPI:
        """A FastAPI app with the operational endpoints and the given routers, driven by this runtime."""
        app = FastAPI(title=title, description=description, lifespan=self.lifespan)
        install_api_defaults(app)
        app.include_router(health_router(self._checks, self.registry))
        for router in routers:
            app.include_router(router)
        return app

    def serve(self, app: FastAPI) -> None:
        """Serve until SIGTERM/SIGINT, with JSON logs, on ``http_host:http_port`` or the inherited ``http_fd``, on the
        event loop ``settings.event_loop`` names (uvloop by default)."""
        configure_logging(self.settings.service_name, self.settings.log_level)
        # Everything built so far (modules, models, schemas, the app) lives as long as the process. Frozen out of the
        # cyclic collector's sight, it is no longer walked by every full collection, each of which stalled all
        # requests for 0.1-0.3 s under load (measured on the scheduler).
        gc.collect()
        gc.freeze()
        # Young collections every gc_young_threshold allocations, not 700: cheaper per post under load (its docstring).
        _, middle, old = gc.get_threshold()
        gc.set_threshold(self.settings.gc_young_threshold, middle, old)
        config = uvicorn.Config(
            app,
            host=self.settings.http_host,
            port=self.settings.http_port,
            log_config=None,
            loop=self.settings.event_loop,
            timeout_graceful_shutdown=int(self.settings.graceful_timeout_seconds),
        )
        # socket.socket(fileno=...) detects the family itself (uvicorn's own ``fd`` option would label it AF_UNIX)
        sockets = None if self.settings.http_fd is None else [socket.socket(fileno=self.settings.http_fd)]
        server = uvicorn.Server(config)
        with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises a captured Ctrl-C once it has shut down
            server.run(sockets=sockets)
        if not server.started:
            sys.exit(STARTUP_FAILURE)
