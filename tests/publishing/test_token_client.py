"""The publishers' client of the token service: access tokens cached until shortly before they expire, and one
request for the deliveries in flight together for an account whose token is not cached."""

import asyncio
import datetime as dt
import uuid

import httpx
import pytest

from herald.publishing.tokens import TokenClient

pytestmark = pytest.mark.fast


class TokenService:
    """Our own token service's access-token endpoint, answering after a pause (a lookup and a decrypt)."""

    def __init__(self, expires_in: dt.timedelta | None = None) -> None:
        self.requests: list[str] = []
        self.expires_in = expires_in

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request.url.path)
        await asyncio.sleep(0.01)
        account_id = request.url.path.split("/")[4]
        expires = None if self.expires_in is None else (dt.datetime.now(dt.UTC) + self.expires_in).isoformat()
        token = f"t-{len(self.requests)}"
        body = {"platform_account_id": f"p-{account_id}", "access_token": token, "expires_at": expires}
        return httpx.Response(200, json=body)


def _client(service: TokenService) -> TokenClient:
    http = httpx.AsyncClient(transport=httpx.MockTransport(service))
    return TokenClient(http, "http://tokens", "svc_publisher-x_secret", cache_seconds=300)


async def test_deliveries_in_flight_together_ask_once_per_account_then_use_the_cache() -> None:
    service = TokenService()
    tokens = _client(service)
    first, second = uuid.uuid4(), uuid.uuid4()
    got = await asyncio.gather(*(tokens.get(first) for _ in range(32)), *(tokens.get(second) for _ in range(5)))
    assert len(service.requests) == 2
    assert {t.access_token for t in got[:32]} == {got[0].access_token}
    assert {t.account_id for t in got[32:]} == {second}

    assert (await tokens.get(first)).access_token == got[0].access_token
    assert len(service.requests) == 2  # cached


async def test_a_token_about_to_expire_is_fetched_again() -> None:
    service = TokenService(expires_in=dt.timedelta(seconds=30))  # inside the margin kept before expiry
    tokens = _client(service)
    account = uuid.uuid4()
    first = await tokens.get(account)
    again = await tokens.get(account)
    assert len(service.requests) == 2
    assert again.access_token != first.access_token
