"""The shared adapter contract, run against the Meta sandbox over real HTTP."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import httpx
import pytest

from herald.platforms.base import Account, ErrorClass
from herald.platforms.meta import build
from herald.platforms.meta.rules import MESSAGE_LIMIT
from tests.platforms.contract import Harness, PlatformContract
from tests.platforms.test_meta_support import PAGE_ID, REDIRECT_URI, sandbox_settings, served_sandbox


@pytest.fixture
async def harness(http: httpx.AsyncClient) -> AsyncIterator[Harness]:
    async with served_sandbox() as served:
        kit = build(sandbox_settings(served.base_url, timeout_seconds=1.0), http)
        yield Harness(
            kit=kit,
            control=served.control,
            account=Account(platform_account_id=PAGE_ID),
            sandbox_account=PAGE_ID,
            access_token=await served.mint(PAGE_ID),  # a Page token: Pages publish with Page tokens
            fault_names={"server_error": "server_error", "rate_limited": "rate_limited"},
            # Meta has no refresh grant: an expired (190/463) or revoked (190/460) Page token needs a reconnect.
            expected_on_expired=ErrorClass.RECONNECT,
            expected_on_revoked=ErrorClass.RECONNECT,
            max_length=MESSAGE_LIMIT,
            # Meta's reset hint, estimated_time_to_regain_access, is in whole minutes.
            reset_tolerance=dt.timedelta(minutes=1),
            redirect_uri=REDIRECT_URI,
        )


class TestMetaContract(PlatformContract):
    """Every contract test, unchanged."""
