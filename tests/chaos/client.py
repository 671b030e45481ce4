"""Herald's public APIs as one team sees them, and the sandboxes' control API, over real HTTP."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode

import httpx
from prometheus_client.parser import text_string_to_metric_families

from herald.contracts.platform import Platform
from tests.chaos.stack import Stack
from tests.support.eventually import eventually

BOOTSTRAP_HEADER = {"X-Herald-Bootstrap-Secret": "dev-bootstrap-secret"}
TERMINAL = frozenset({"published", "failed", "unconfirmed", "cancelled", "missed"})
PAGE = 200


class ApiError(AssertionError):
    pass


class Team:
    """A team with its API key: content, distributions, accounts and the audit log."""

    def __init__(self, stack: Stack, client: httpx.AsyncClient) -> None:
        self.stack = stack
        self.client = client

    @classmethod
    async def create(cls, stack: Stack) -> Team:
        async with httpx.AsyncClient(timeout=30) as anonymous:
            response = await anonymous.post(
                f"{stack.url('scheduler')}/v1/admin/api-keys", headers=BOOTSTRAP_HEADER, json={"name": "chaos"}
            )
        if response.status_code != 201:
            raise ApiError(f"api key: {response.status_code} {response.text}")
        key = response.json()["api_key"]
        limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
        client = httpx.AsyncClient(timeout=30, headers={"Authorization": f"Bearer {key}"}, limits=limits)
        return cls(stack, client)

    async def close(self) -> None:
        await self.client.aclose()

    async def json(self, method: str, url: str, expect: int | None = None, **kwargs: Any) -> Any:
        response = await self.client.request(method, url, **kwargs)
        ok = response.status_code == expect if expect is not None else response.status_code < 300
        if not ok:
            raise ApiError(f"{method} {url}: {response.status_code} {response.text[:500]}")
        return response.json()

    # -- accounts -------------------------------------------------------------------------------------------------

    async def connect(self, platform: Platform, account: str | None = None) -> list[dict[str, Any]]:
        """Connect through the OAuth flow; ``account`` picks who consents on the sandbox (default: its default)."""
        start = await self.json("POST", f"{self.stack.url('tokens')}/v1/accounts/connect/{platform.value}", json={})
        url = start["authorization_url"]
        if account is not None:
            url += ("&" if "?" in url else "?") + urlencode({"account": account})
        async with httpx.AsyncClient(timeout=30) as browser:  # the user's browser: consent, then the callback
            callback = await browser.get(url, follow_redirects=True)
        if callback.status_code != 200:
            raise ApiError(f"connect {platform}: {callback.status_code} {callback.text[:500]}")
        accounts: list[dict[str, Any]] = callback.json()["accounts"]
        return accounts

    async def account(self, account_id: str) -> dict[str, Any]:
        found: dict[str, Any] = await self.json("GET", f"{self.stack.url('tokens')}/v1/accounts/{account_id}")
        return found

    # -- content and distributions --------------------------------------------------------------------------------

    async def approved_content(self, text: str, media: list[dict[str, Any]] | None = None) -> str:
        """Create and approve content; ``media``: ``[{"media_id", "alt_text"}]`` of items the team uploaded."""
        scheduler = self.stack.url("scheduler")
        body: dict[str, Any] = {"title": "chaos", "text": text, **({"media": media} if media else {})}
        content = await self.json("POST", f"{scheduler}/v1/contents", json=body)
        await self.json("POST", f"{scheduler}/v1/contents/{content['content_id']}/approve")
        return str(content["content_id"])

    async def schedule(
        self,
        content_id: str,
        platform: Platform,
        account_id: str,
        publish_at: dt.datetime,
        *,
        max_attempts: int,
    ) -> dict[str, Any]:
        body = {
            "content_id": content_id,
            "platform": platform.value,
            "account_id": account_id,
            "publish_at": publish_at.isoformat(),
            "retry": {"max_attempts": max_attempts, "base_delay_seconds": 1},
        }
        url = f"{self.stack.url('scheduler')}/v1/distributions"

        async def scheduled() -> httpx.Response | None:
            response = await self.client.post(url, json=body)
            # the scheduler learns about accounts from AccountConnected events: unknown to it until then
            return None if response.status_code == 422 and "account" in response.text else response

        response = await eventually(scheduled, within=15, interval=0.1, what="the account known to the scheduler")
        assert response is not None
        if response.status_code != 201:
            raise ApiError(f"schedule: {response.status_code} {response.text[:500]}")
        created: dict[str, Any] = response.json()
        return created

    async def distributions(self, scheduled_from: dt.datetime) -> list[dict[str, Any]]:
        """Every distribution of the team due at or after ``scheduled_from``, all pages."""
        params = {"scheduled_from": scheduled_from.isoformat(), "limit": PAGE}
        return await self._all_pages(f"{self.stack.url('scheduler')}/v1/distributions", params)

    async def _all_pages(self, url: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Every item of a cursor-paginated listing."""
        found: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            page = await self.json("GET", url, params={**params, **({"cursor": cursor} if cursor else {})})
            found.extend(page["items"])
            cursor = page["next_cursor"]
            if not cursor:
                return found

    async def distribution(self, distribution_id: str) -> dict[str, Any]:
        found: dict[str, Any] = await self.json(
            "GET", f"{self.stack.url('scheduler')}/v1/distributions/{distribution_id}"
        )
        return found

    async def timeline(self, distribution_id: str) -> list[dict[str, Any]] | None:
        """The distribution's audit timeline; ``[]`` if the audit log has nothing yet, ``None`` if the audit service
        could not answer just now (5xx or unreachable: asked again later)."""
        try:
            response = await self.client.get(
                f"{self.stack.url('audit')}/v1/audit/distributions/{distribution_id}/timeline"
            )
        except httpx.TransportError:
            return None
        if response.status_code == 404:
            return []
        if response.status_code >= 500:
            return None
        if response.status_code != 200:
            raise ApiError(f"timeline: {response.status_code} {response.text[:300]}")
        items: list[dict[str, Any]] = response.json()["items"]
        return items

    async def audit_events(self, action: str, since: dt.datetime) -> list[dict[str, Any]]:
        params = {"action": action, "since": since.isoformat(), "limit": 500, "order": "asc"}
        return await self._all_pages(f"{self.stack.url('audit')}/v1/audit/events", params)


class Sandboxes:
    """The three sandboxes' control and inspection API (``/_sandbox``)."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.client = httpx.AsyncClient(timeout=30)

    async def close(self) -> None:
        await self.client.aclose()

    def _url(self, platform: Platform, path: str) -> str:
        return f"{self.stack.sandbox(platform)}/_sandbox{path}"

    async def reset(self) -> None:
        for platform in Platform:
            (await self.client.post(self._url(platform, "/reset"))).raise_for_status()

    async def arm(self, platform: Platform, **fault: Any) -> None:
        response = await self.client.post(self._url(platform, "/faults"), json=fault)
        if response.status_code != 201:
            raise ApiError(f"arm {platform}: {response.status_code} {response.text}")

    async def armed(self, platform: Platform) -> list[dict[str, Any]]:
        faults: list[dict[str, Any]] = (await self.client.get(self._url(platform, "/faults"))).json()
        return faults

    async def _ask(self, method: str, url: str) -> httpx.Response:
        """An idempotent request to a sandbox's own API, asked again if a keep-alive connection the sandbox closed
        meanwhile fails it (its fault modes cut connections)."""
        for attempt in range(3):
            try:
                response = await self.client.request(method, url)
                response.raise_for_status()
                return response
            except httpx.TransportError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def clear_faults(self) -> None:
        for platform in Platform:
            await self._ask("DELETE", self._url(platform, "/faults"))

    async def posts(self, platform: Platform) -> list[dict[str, Any]]:
        response = await self._ask("GET", self._url(platform, "/posts"))
        posts: list[dict[str, Any]] = response.json()
        return posts

    async def stats(self, platform: Platform) -> dict[str, dict[str, int]]:
        response = await self._ask("GET", self._url(platform, "/stats"))
        stats: dict[str, dict[str, int]] = response.json()
        return stats

    async def revoke(self, platform: Platform, account: str) -> int:
        response = await self.client.post(self._url(platform, f"/accounts/{account}/revoke"))
        response.raise_for_status()
        return int(response.json()["revoked"])

    async def expire(self, platform: Platform, account: str) -> int:
        response = await self.client.post(self._url(platform, f"/accounts/{account}/expire"))
        response.raise_for_status()
        return int(response.json()["expired"])


async def metric(url: str, sample: str, **labels: str) -> float:
    """The sum of one process's Prometheus samples named ``sample`` (e.g. ``herald_publish_attempts_total``,
    ``..._count`` of a histogram) whose labels include ``labels``."""
    async with httpx.AsyncClient(timeout=10) as client:
        text = (await client.get(f"{url}/metrics")).text
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items())
    )
