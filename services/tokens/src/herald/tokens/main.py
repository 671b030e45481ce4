"""Composition root of the tokens service: ``build(settings) -> (runtime, app)`` and the command line.

``python -m herald.tokens``               serve (port 8002 by default)
``python -m herald.tokens rotate-keys``   re-encrypt every stored token under the primary key, print a JSON report
``python -m herald.tokens new-key``       print a fresh base64 AES-256 key for ``HERALD_TOKEN_KEYS``
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
from collections.abc import Mapping
from pathlib import Path

import httpx
from fastapi import FastAPI

from herald.contracts.platform import Platform
from herald.kit import db
from herald.kit.auth import service_principal, team_principal
from herald.kit.logging import configure_logging, register_secret
from herald.kit.migrations import upgrade
from herald.kit.outbox import OutboxRelay, RelaySettings
from herald.kit.runtime import ServiceRuntime
from herald.kit.settings import load_settings
from herald.platforms import linkedin, meta, x
from herald.platforms.base import OAuthClient
from herald.tokens.accounts import AccountDirectory
from herald.tokens.api import install_error_handlers, internal_router, team_router
from herald.tokens.connect import ConnectPolicy, ConnectService
from herald.tokens.crypto import load_key_ring, new_key
from herald.tokens.events import EventWriter
from herald.tokens.metrics import TokenMetrics
from herald.tokens.models import outbox
from herald.tokens.rotation import rotate
from herald.tokens.service import RefreshPolicy, TokenContext, TokenService
from herald.tokens.settings import TokensSettings

SCHEMA = "tokens"
MIGRATIONS = Path(__file__).parent / "migrations"
DESCRIPTION = "Connected social accounts and their encrypted OAuth tokens: connect flow, single-flight refresh."


def oauth_clients(settings: TokensSettings, http: httpx.AsyncClient) -> dict[Platform, OAuthClient]:
    """The OAuth client of every configured platform, over one shared HTTP client."""
    clients: dict[Platform, OAuthClient] = {}
    if settings.x is not None:
        clients[Platform.X] = x.build(settings.x, http).oauth
    if settings.linkedin is not None:
        clients[Platform.LINKEDIN] = linkedin.build(settings.linkedin, http).oauth
    if settings.meta is not None:
        clients[Platform.META] = meta.build(settings.meta, http).oauth
    for platform in clients:
        configured = settings.platform_settings(platform)
        if configured is not None:
            register_secret(configured.client_secret.get_secret_value())
    return clients


def build(
    settings: TokensSettings, *, oauth: Mapping[Platform, OAuthClient] | None = None
) -> tuple[ServiceRuntime, FastAPI]:
    """Wire the service. ``oauth`` replaces the platforms' OAuth clients (tests of this service's own rules)."""
    runtime = ServiceRuntime(settings, schema=SCHEMA, migrations=MIGRATIONS, public_api=True)
    # httpx logs every request URL at INFO, and Meta's Graph API takes tokens in the query string.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    ring = load_key_ring(settings)
    http = httpx.AsyncClient()
    clients = oauth if oauth is not None else oauth_clients(settings, http)
    writer = EventWriter(runtime.events.envelope)
    metrics = TokenMetrics(runtime.registry)
    context = TokenContext(runtime.engine, ring, clients, writer, metrics)
    tokens = TokenService(context, RefreshPolicy.from_settings(settings))
    connect = ConnectService(context, ConnectPolicy.from_settings(settings))
    directory = AccountDirectory(runtime.engine, writer)
    relay = OutboxRelay(
        runtime.engine,
        runtime.events,
        runtime.registry,
        table=outbox,
        settings=RelaySettings(poll_interval_seconds=settings.outbox_poll_interval_seconds),
    )

    async def refresh_loop(stop: asyncio.Event) -> None:
        await tokens.run(stop, settings.refresh_loop_interval_seconds)

    runtime.on_start(tokens.refresh_gauge)
    runtime.add_background(relay.run)
    if settings.refresh_loop_enabled:
        runtime.add_background(refresh_loop)
    runtime.on_stop(http.aclose)
    routers = [
        internal_router(tokens, service_principal(settings.service_credentials)),
        team_router(connect, directory, team_principal(runtime.api_keys)),
    ]
    app = runtime.create_app("Herald tokens", routers, DESCRIPTION)
    install_error_handlers(app)
    app.state.tokens = tokens
    return runtime, app


async def _rotate_keys(settings: TokensSettings) -> dict[str, object]:
    ring = load_key_ring(settings)
    await upgrade(settings.database_url.get_secret_value(), MIGRATIONS, SCHEMA)
    engine = db.create_engine(settings, SCHEMA, pool_size=1)
    try:
        return dataclasses.asdict(await rotate(engine, ring))
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m herald.tokens", description=__doc__)
    parser.add_argument("command", nargs="?", default="serve", choices=["serve", "rotate-keys", "new-key"])
    args = parser.parse_args()
    if args.command == "new-key":
        print(new_key())
        return
    settings = load_settings(TokensSettings)
    configure_logging(settings.service_name, settings.log_level)
    if args.command == "rotate-keys":
        print(json.dumps(asyncio.run(_rotate_keys(settings))))
        return
    runtime, app = build(settings)
    runtime.serve(app)
