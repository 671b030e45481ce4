"""Helpers shared by the Meta test modules (no tests here): a served sandbox and settings pointing at it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
from fastapi import FastAPI
from pydantic import SecretStr

from herald.platforms.meta import MetaSettings
from herald.sandboxes.meta.app import create_app
from herald.sandboxes.meta.config import DEFAULT_USER, MetaSandboxConfig
from herald.sandboxes.meta.state import MetaSandbox
from tests.support.servers import serve

PAGE_ID = DEFAULT_USER.pages[0].id
IG_USER_ID = DEFAULT_USER.pages[0].instagram.id if DEFAULT_USER.pages[0].instagram else ""
USER_ID = DEFAULT_USER.id
CLIENT_ID, CLIENT_SECRET = "herald-dev", "herald-dev-secret"
REDIRECT_URI = "http://127.0.0.1:9999/callback"


def sandbox_settings(base_url: str, *, timeout_seconds: float = 1.0, **overrides: object) -> MetaSettings:
    """Settings for the adapter pointing every URL at a served sandbox."""
    values: dict[str, object] = {
        "graph_url": base_url,
        "authorize_url": f"{base_url}/{{version}}/dialog/oauth",
        "token_url": f"{base_url}/{{version}}/oauth/access_token",
        "client_id": CLIENT_ID,
        "client_secret": SecretStr(CLIENT_SECRET),
        "timeout_seconds": timeout_seconds,
        **overrides,
    }
    return MetaSettings.model_validate(values)


@dataclass
class Served:
    """A sandbox served over real HTTP."""

    app: FastAPI
    base_url: str
    control: httpx.AsyncClient  # base_url = the sandbox

    @property
    def sandbox(self) -> MetaSandbox:
        meta: MetaSandbox = self.app.state.meta
        return meta

    async def mint(self, account: str, *, scopes: list[str] | None = None, expires_in: int | None = None) -> str:
        body: dict[str, object] = {"account": account, "scopes": scopes or []}
        if expires_in is not None:
            body["expires_in"] = expires_in
        response = await self.control.post("/_sandbox/tokens", json=body)
        response.raise_for_status()
        token: str = response.json()["access_token"]
        return token

    async def arm(self, **fault: object) -> None:
        response = await self.control.post("/_sandbox/faults", json=fault)
        response.raise_for_status()


@asynccontextmanager
async def served_sandbox(config: MetaSandboxConfig | None = None) -> AsyncIterator[Served]:
    app = create_app(config)
    with serve(app) as base_url:
        async with httpx.AsyncClient(base_url=base_url) as control:
            yield Served(app=app, base_url=base_url, control=control)
