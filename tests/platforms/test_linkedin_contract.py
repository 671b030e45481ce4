"""The platform adapter contract, run against the LinkedIn sandbox over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from herald.platforms.base import Account, ErrorClass
from herald.platforms.linkedin import COMMENTARY_LIMIT, build
from herald.sandboxes.linkedin.app import create_app
from tests.platforms.contract import Harness, PlatformContract
from tests.platforms.test_linkedin_support import MEMBER, MEMBER_URN, READ_BACK_SCOPES, mint, sandbox_settings
from tests.support.servers import serve


@pytest.fixture(scope="module")
def sandbox_url() -> Iterator[str]:
    with serve(create_app()) as url:
        yield url


@pytest.fixture
async def harness(sandbox_url: str, http: httpx.AsyncClient) -> AsyncIterator[Harness]:
    async with httpx.AsyncClient(base_url=sandbox_url) as control:
        (await control.post("/_sandbox/reset")).raise_for_status()
        # r_member_social lets the member's own posts be read back (docs/platforms.md, "LinkedIn: read-back");
        # without it see test_linkedin_client.
        tokens = await mint(control, READ_BACK_SCOPES)
        yield Harness(
            kit=build(sandbox_settings(sandbox_url, timeout=1.0), http),
            control=control,
            account=Account(MEMBER_URN),
            sandbox_account=MEMBER,
            access_token=tokens["access_token"],
            fault_names={"server_error": "server_error", "rate_limited": "rate_limited"},
            expected_on_expired=ErrorClass.REFRESH_TOKEN,
            expected_on_revoked=ErrorClass.RECONNECT,
            max_length=COMMENTARY_LIMIT,
        )


class TestLinkedInContract(PlatformContract):
    pass
