"""A publisher killed with SIGKILL in the middle of a platform call, then restarted: the post exists exactly once."""

import asyncio
import json
import os
import signal
import subprocess
import sys

import httpx

from tests.publishing.conftest import TIERS_MS, Stack
from tests.support.servers import free_port

SUCCEEDED = "com.herald.publish.succeeded"


def _start(stack: Stack, port: int) -> subprocess.Popen[bytes]:
    settings = stack.settings
    x = settings.x
    env = {
        **os.environ,
        "HERALD_AMQP_URL": settings.amqp_url.get_secret_value(),
        "HERALD_DATABASE_URL": settings.database_url.get_secret_value(),
        "HERALD_HTTP_PORT": str(port),
        "HERALD_TOKENS_URL": settings.tokens_url,
        "HERALD_RETRY_TIERS_MS": json.dumps(list(TIERS_MS)),
        "HERALD_IN_FLIGHT_GRACE_SECONDS": "1",
        "HERALD_X__API_BASE_URL": x.api_base_url,
        "HERALD_X__TIMEOUT_SECONDS": "10",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "herald.publisher_x"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


async def _ready(port: int) -> None:
    async with httpx.AsyncClient() as client, asyncio.timeout(20):
        while True:
            try:
                if (await client.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)


async def test_sigkill_mid_call_then_restart_posts_exactly_once(infra: Stack) -> None:
    port = free_port()
    first = _start(infra, port)
    try:
        await _ready(port)
        # The sandbox stores the post, then holds its answer: the publisher is killed while it waits.
        await infra.arm(kind="accept_then_fail", mode="timeout", latency_ms=4000, count=1)
        request = infra.request()
        await infra.send(request)
        async with asyncio.timeout(10):  # wait until the platform call is in progress
            while (await infra.sandbox.get("/_sandbox/stats")).json()["create_requests"].get(
                infra.sandbox_account
            ) != 1:
                await asyncio.sleep(0.02)
        first.send_signal(signal.SIGKILL)
        first.wait(5)
    finally:
        if first.poll() is None:
            first.kill()
    second = _start(infra, port)
    try:
        seen = await infra.outcomes_for(request.distribution_id, SUCCEEDED, timeout=30)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(20)
    posts = [p for p in await infra.posts() if p["text"] == request.text]
    assert len(posts) == 1
    assert seen[-1][1]["external_post_id"] == posts[0]["id"]
    assert seen[-1][1]["reconciled"] is True  # found by read-back, not sent again
