"""A team's view of Herald's public APIs, as the benchmark drives them (seeding and reading results)."""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from bench.keepalive import KeepAliveClient
from bench.stack import Stack
from bench.stats import Summary, summarise
from herald.contracts.platform import Platform

T = TypeVar("T")
BOOTSTRAP_HEADER = "X-Herald-Bootstrap-Secret"
BOOTSTRAP_SECRET = "dev-bootstrap-secret"  # the development default of every service started by the benchmark
PAGE_SIZE = 200  # the scheduler's largest page
KEEPALIVE_SECONDS = 2.0


@dataclass(frozen=True)
class Account:
    id: str
    platform: Platform
    name: str


@dataclass(frozen=True)
class Seeding:
    """How fast a batch of API calls went: count, wall time and per-call latency."""

    count: int
    seconds: float
    concurrency: int
    latency: Summary

    @property
    def per_second(self) -> float:
        return self.count / self.seconds

    def as_json(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "seconds": round(self.seconds, 2),
            "per_second": round(self.per_second, 1),
            "concurrency": self.concurrency,
            "latency_ms": self.latency.as_ms(),
        }


class ApiError(RuntimeError):
    pass


class HeraldApi:
    def __init__(self, stack: Stack, client: httpx.AsyncClient, team_id: str) -> None:
        self.stack = stack
        self.client = client
        self.team_id = team_id

    @classmethod
    async def for_new_team(cls, stack: Stack, *, connections: int) -> HeraldApi:
        async with httpx.AsyncClient(timeout=30) as anonymous:
            response = await anonymous.post(
                f"{stack.url('scheduler')}/v1/admin/api-keys",
                headers={BOOTSTRAP_HEADER: BOOTSTRAP_SECRET},
                json={"name": "bench"},
            )
        body = _ok(response, 201)
        # uvicorn closes a connection idle for 5 s; expiring ours sooner means a request never races that close.
        limits = httpx.Limits(
            max_connections=connections, max_keepalive_connections=connections, keepalive_expiry=KEEPALIVE_SECONDS
        )
        client = httpx.AsyncClient(timeout=60, limits=limits, headers={"Authorization": f"Bearer {body['api_key']}"})
        return cls(stack, client, str(body["team_id"]))

    async def close(self) -> None:
        await self.client.aclose()

    def lean(self, service: str) -> KeepAliveClient:
        """A :class:`KeepAliveClient` to ``service`` with this team's key, for a hot loop of small JSON posts."""
        return KeepAliveClient(self.stack.url(service), {"Authorization": self.client.headers["Authorization"]})

    async def connect(self, platform: Platform, consenting: str | None) -> list[Account]:
        """Connect through the OAuth flow; ``consenting`` picks the sandbox user (``?account=``)."""
        start = _ok(await self.client.post(f"{self.stack.url('tokens')}/v1/accounts/connect/{platform.value}", json={}))
        url = start["authorization_url"] + (f"&account={consenting}" if consenting else "")
        async with httpx.AsyncClient(timeout=30) as browser:
            callback = await browser.get(url, follow_redirects=True)
        accounts = _ok(callback)["accounts"]
        return [Account(str(a["id"]), Platform(a["platform"]), str(a.get("account_name", ""))) for a in accounts]

    async def upload_media(self, data: bytes, filename: str, content_type: str = "image/jpeg") -> str:
        """``POST /v1/media`` on the media service (multipart, field ``file``): the new item's id (200 if the team
        already had these bytes, 201 if not)."""
        response = await self.client.post(
            f"{self.stack.url('media')}/v1/media", files={"file": (filename, data, content_type)}
        )
        return str(_ok(response, 200 if response.status_code == 200 else 201)["id"])  # 200: a duplicate, kept once

    async def create_content(self, title: str, text: str, media: Sequence[str] = ()) -> str:
        body: dict[str, Any] = {"title": title, "text": text}
        if media:
            body["media"] = [{"media_id": m, "alt_text": f"Benchmark image {i + 1}"} for i, m in enumerate(media)]
        return str(
            _ok(await self.client.post(f"{self.stack.url('scheduler')}/v1/contents", json=body), 201)["content_id"]
        )

    async def approve(self, content_id: str) -> None:
        _ok(await self.client.post(f"{self.stack.url('scheduler')}/v1/contents/{content_id}/approve"))

    async def schedule(
        self, content_id: str, account: Account, at: dt.datetime, *, lean: KeepAliveClient | None = None
    ) -> str:
        """``POST /v1/distributions``; through ``lean`` (from :meth:`lean`) if given, else the httpx client."""
        body = {
            "content_id": content_id,
            "platform": account.platform.value,
            "account_id": account.id,
            "publish_at": at.isoformat(),
        }
        if lean is not None:
            answer = await lean.post_json("/v1/distributions", body)
            if answer.status != 201:
                raise ApiError(f"POST /v1/distributions: {answer.status} {answer.body[:500].decode(errors='replace')}")
            return str(answer.json()["distribution_id"])
        response = await self.client.post(f"{self.stack.url('scheduler')}/v1/distributions", json=body)
        return str(_ok(response, 201)["distribution_id"])

    async def schedule_many(self, items: Sequence[tuple[str, Account, dt.datetime]]) -> list[str]:
        """``POST /v1/distributions/bulk``: every ``(content id, account, time)`` in one request, all or none."""
        body = {
            "items": [
                {"content_id": c, "platform": a.platform.value, "account_id": a.id, "publish_at": at.isoformat()}
                for c, a, at in items
            ]
        }
        response = await self.client.post(f"{self.stack.url('scheduler')}/v1/distributions/bulk", json=body)
        return [str(d["distribution_id"]) for d in _ok(response, 201)["items"]]

    async def distributions(self, scheduled_from: dt.datetime, scheduled_before: dt.datetime) -> list[dict[str, Any]]:
        """Every distribution due in ``[scheduled_from, scheduled_before)``, page by page (keyset pagination)."""
        found: list[dict[str, Any]] = []
        params: dict[str, Any] = {
            "scheduled_from": scheduled_from.isoformat(),
            "scheduled_before": scheduled_before.isoformat(),
            "limit": PAGE_SIZE,
        }
        while True:
            page = _ok(await self.client.get(f"{self.stack.url('scheduler')}/v1/distributions", params=params))
            found.extend(page["items"])
            if not page["next_cursor"]:
                return found
            params["cursor"] = page["next_cursor"]

    async def metrics(self, base_url: str) -> str:
        response = await self.client.get(f"{base_url}/metrics")
        response.raise_for_status()
        return response.text


async def bounded(concurrency: int, calls: Sequence[Callable[[], Awaitable[T]]]) -> tuple[list[T], Seeding]:
    """Run ``calls`` with at most ``concurrency`` in flight; results in order, plus how fast it went."""
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []

    async def one(call: Callable[[], Awaitable[T]]) -> T:
        async with gate:
            began = time.perf_counter()
            result = await call()
            latencies.append(time.perf_counter() - began)
            return result

    with client_collector_paused():
        began = time.perf_counter()
        results = await asyncio.gather(*(one(call) for call in calls))
        elapsed = time.perf_counter() - began
    return list(results), Seeding(len(calls), elapsed, concurrency, summarise(latencies or [0.0]))


@contextmanager
def client_collector_paused() -> Iterator[None]:
    """The benchmark's own cyclic garbage collector off while it times calls, then one collection.

    A full collection of this process's heap (the harness, its results, every call's objects) stopped its event loop
    for 60-125 ms (measured with ``gc.callbacks``): every call in flight then had its answer read that much later,
    and 32 closed-loop clients recorded it 32 times, as the scheduler's p99. The services freeze their start-up heap
    for the same reason (``ServiceRuntime.serve``).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
            gc.collect()


def _ok(response: httpx.Response, expected: int = 200) -> Any:
    if response.status_code != expected:
        raise ApiError(
            f"{response.request.method} {response.request.url}: {response.status_code} {response.text[:500]}"
        )
    return response.json()
