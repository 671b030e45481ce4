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
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import APIRouter, FastAPI
from faststream.rabbit import RabbitBroker
from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncEngine

from herald.contracts.envelope import service_source
from herald.kit import db
from herald.kit.auth import IDENTITY_MIGRATIONS, IDENTITY_SCHEMA, ApiKeyStore
from herald.kit.broker import EventPublisher, build_broker, declare_exchanges
from herald.kit.health import ReadinessCheck, health_router
from herald.kit.logging import configure_logging
from herald.kit.migrations import upgrade
from herald.kit.settings import ServiceSettings

log = logging.getLogger(__name__)

BackgroundLoop = Callable[[asyncio.Event], Coroutine[Any, Any, None]]
StartHook = Callable[[], Awaitable[None]]


class ServiceRuntime:
    """Owns a service's registry, broker, database engine, API-key store and background loops."""

    def __init__(
        self,
        settings: ServiceSettings,
        *,
        schema: str | None = None,
        migrations: Path | None = None,
        uses_broker: bool = True,
        public_api: bool = False,
    ) -> None:
        self.settings = settings
        self.registry = CollectorRegistry()
        self.schema = schema
        self._migrations = migrations
        self._public_api = public_api
        self.broker: RabbitBroker | None = build_broker(settings, self.registry) if uses_broker else None
        self.engine: AsyncEngine | None = db.create_engine(settings, schema) if schema else None
        self.api_keys: ApiKeyStore | None = ApiKeyStore(self.engine) if public_api and self.engine else None
        self.events: EventPublisher | None = (
            EventPublisher(
                self.broker, source=service_source(settings.service_name), timeout=settings.publish_timeout_seconds
            )
            if self.broker
            else None
        )
        self._loops: list[BackgroundLoop] = []
        self._on_start: list[StartHook] = []
        self._on_stop: list[StartHook] = []
        self._checks: dict[str, ReadinessCheck] = {}
        if self.engine is not None:
            engine = self.engine
            self._checks["database"] = lambda: db.ping(engine)
        if self.broker is not None:
            broker = self.broker
            self._checks["broker"] = lambda: broker.ping(timeout=1.0)

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
        url = self.settings.database_url.get_secret_value()
        if self._public_api:
            await upgrade(url, IDENTITY_MIGRATIONS, IDENTITY_SCHEMA)
        if self.schema and self._migrations:
            await upgrade(url, self._migrations, self.schema)

    @asynccontextmanager
    async def lifespan(self, _app: FastAPI | None = None) -> AsyncIterator[None]:
        await self.migrate()
        if self.broker is not None:
            await self.broker.connect()
            await declare_exchanges(self.broker)
        for hook in self._on_start:
            await hook()
        if self.broker is not None:
            await self.broker.start()
        stop = asyncio.Event()
        tasks = [asyncio.create_task(loop(stop), name=getattr(loop, "__name__", "loop")) for loop in self._loops]
        log.info("service started", extra={"service": self.settings.service_name})
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
            if self.broker is not None:
                await self.broker.stop()
            for hook in self._on_stop:
                await hook()
            if self.engine is not None:
                await self.engine.dispose()
            log.info("service stopped")

    def create_app(self, title: str, routers: Iterable[APIRouter] = (), description: str = "") -> FastAPI:
        """A FastAPI app with the operational endpoints and the given routers, driven by this runtime."""
        app = FastAPI(title=title, description=description, lifespan=self.lifespan)
        app.include_router(health_router(self._checks, self.registry))
        for router in routers:
            app.include_router(router)
        return app

    def serve(self, app: FastAPI) -> None:
        """Serve until SIGTERM/SIGINT, with JSON logs."""
        configure_logging(self.settings.service_name, self.settings.log_level)
        uvicorn.run(
            app,
            host=self.settings.http_host,
            port=self.settings.http_port,
            log_config=None,
            timeout_graceful_shutdown=int(self.settings.graceful_timeout_seconds),
        )
