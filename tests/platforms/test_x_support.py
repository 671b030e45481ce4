"""Helpers shared by the X test modules: the X sandbox served over real HTTP plus a kit pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI

from herald.platforms.base import Account, PlatformKit
from herald.platforms.x import XSettings, build
from herald.sandboxes.x.app import create_app
from herald.sandboxes.x.config import XSandboxConfig
from herald.sandboxes.x.runtime import XSandbox
from tests.support.servers import serve

CLIENT_ID = "herald-dev"
CLIENT_SECRET = "herald-dev-secret"
REDIRECT_URI = "http://127.0.0.1:9999/callback"


@dataclass
class XWorld:
    base_url: str
    app: FastAPI
    kit: PlatformKit
    settings: XSettings
    http: httpx.AsyncClient  # what the kit uses
    control: httpx.AsyncClient  # base_url = the sandbox

    @property
    def sandbox(self) -> XSandbox:
        sandbox: XSandbox = self.app.state.sandbox
        return sandbox

    async def mint(self, account: str, **extra: Any) -> dict[str, Any]:
        response = await self.control.post("/_sandbox/tokens", json={"account": account, **extra})
        response.raise_for_status()
        minted: dict[str, Any] = response.json()
        return minted

    async def account(self, access_token: str) -> Account:
        [identity] = await self.kit.oauth.identities(access_token)
        return Account(platform_account_id=identity.platform_account_id)

    async def arm(self, **fault: Any) -> None:
        response = await self.control.post("/_sandbox/faults", json=fault)
        response.raise_for_status()


@asynccontextmanager
async def x_world(config: XSandboxConfig | None = None, *, timeout: float = 2.0) -> AsyncIterator[XWorld]:
    """Serve a fresh X sandbox and build the X kit against it."""
    app = create_app(config)
    with serve(app) as base_url:
        settings = XSettings.for_sandbox(
            base_url, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, timeout_seconds=timeout
        )
        async with httpx.AsyncClient() as http, httpx.AsyncClient(base_url=base_url, timeout=10) as control:
            yield XWorld(base_url, app, build(settings, http), settings, http, control)


def test_support_module_has_no_tests_of_its_own() -> None:
    """(pytest collects this module because of its name; the helpers above are exercised by the X tests.)"""
    assert CLIENT_ID in create_app().state.sandbox.config.clients
