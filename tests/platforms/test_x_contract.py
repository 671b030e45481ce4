"""The platform adapter contract, run against the X sandbox served over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from herald.platforms.base import Account, ErrorClass
from herald.platforms.x import XSettings, build
from herald.sandboxes.x.app import create_app
from tests.platforms.contract import Harness, PlatformContract
from tests.support.servers import serve

CLIENT_ID = "herald-dev"
CLIENT_SECRET = "herald-dev-secret"
SANDBOX_ACCOUNT = "x-contract-user"


@pytest.fixture
async def harness(http: httpx.AsyncClient) -> AsyncIterator[Harness]:
    with serve(create_app()) as base_url:
        settings = XSettings.for_sandbox(
            base_url, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, timeout_seconds=1.0
        )
        async with httpx.AsyncClient(base_url=base_url, timeout=10) as control:
            kit = build(settings, http)
            minted = await control.post("/_sandbox/tokens", json={"account": SANDBOX_ACCOUNT})
            minted.raise_for_status()
            token = minted.json()["access_token"]
            [identity] = await kit.oauth.identities(token)
            yield Harness(
                kit=kit,
                control=control,
                account=Account(platform_account_id=identity.platform_account_id),
                sandbox_account=SANDBOX_ACCOUNT,
                access_token=token,
                fault_names={"server_error": "server_error", "rate_limited": "rate_limited"},
                # X answers 401 "Unauthorized" for expired, invalid and revoked tokens alike: refresh once, and
                # a revoked account then fails the refresh (RefreshError permanent -> reconnect).
                expected_on_expired=ErrorClass.REFRESH_TOKEN,
                expected_on_revoked=ErrorClass.REFRESH_TOKEN,
                max_length=280,
            )


class TestXContract(PlatformContract):
    """Every contract test, against the X sandbox."""
