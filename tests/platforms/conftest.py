"""Fixtures shared by the platform adapter tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from herald.platforms.transport import platform_http_client


@pytest.fixture(params=["httpx", "aiohttp"])
async def http(request: pytest.FixtureRequest) -> AsyncIterator[httpx.AsyncClient]:
    """The adapters' shared HTTP client, over httpx's own transport and over the publishers' aiohttp transport
    (:mod:`herald.platforms.transport`): every contract test must hold over both."""
    if request.param == "httpx":
        client = httpx.AsyncClient()
    else:
        client = platform_http_client(timeout=5.0, limits=httpx.Limits(max_connections=20))
    async with client:
        yield client
