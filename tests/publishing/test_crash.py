"""A publisher killed with SIGKILL in the middle of a platform call, then restarted: the post exists exactly once."""

import asyncio
import json
from pathlib import Path

from herald.operator.local import Process
from herald.operator.local_starter import LocalStarter
from tests.publishing.conftest import TIERS_MS, Stack
from tests.support.eventually import PROCESS_READY_SECONDS, eventually

SUCCEEDED = "com.herald.publish.succeeded"
PUBLISHER = "publisher-x"


def _publisher(stack: Stack, logs: Path) -> LocalStarter:
    settings = stack.settings
    x = settings.x
    env = {
        "HERALD_AMQP_URL": settings.amqp_url.get_secret_value(),
        "HERALD_DATABASE_URL": settings.database_url.get_secret_value(),
        "HERALD_TOKENS_URL": settings.tokens_url,
        "HERALD_RETRY_TIERS_MS": json.dumps(list(TIERS_MS)),
        "HERALD_IN_FLIGHT_GRACE_SECONDS": "1",
        "HERALD_X__API_BASE_URL": x.api_base_url,
        "HERALD_X__TIMEOUT_SECONDS": "10",
    }
    starter = LocalStarter(logs=logs)
    starter.add(Process(PUBLISHER, starter.reserve_port(), "herald.publisher_x", env=env))
    return starter


async def test_sigkill_mid_call_then_restart_posts_exactly_once(infra: Stack, tmp_path: Path) -> None:
    publisher = _publisher(infra, tmp_path)
    try:
        publisher.start(PUBLISHER)
        await publisher.wait_ready(within=PROCESS_READY_SECONDS)
        # The sandbox stores the post, then holds its answer: the publisher is killed while it waits.
        await infra.arm(kind="accept_then_fail", mode="timeout", latency_ms=4000, count=1)
        request = infra.request()
        await infra.send(request)

        async def platform_call_in_progress() -> bool:
            stats = (await infra.sandbox.get("/_sandbox/stats")).json()
            return bool(stats["create_requests"].get(infra.sandbox_account) == 1)

        await eventually(platform_call_in_progress, within=10)
        publisher.kill(PUBLISHER)
        publisher.start(PUBLISHER)  # on the same port, as a supervisor restarts it
        seen = await infra.outcomes_for(request.distribution_id, SUCCEEDED, timeout=30)
        await asyncio.to_thread(publisher.terminate, PUBLISHER, 20)
    finally:
        publisher.stop()
    posts = [p for p in await infra.posts() if p["text"] == request.text]
    assert len(posts) == 1
    assert seen[-1][1]["external_post_id"] == posts[0]["id"]
    assert seen[-1][1]["reconciled"] is True  # found by read-back, not sent again
