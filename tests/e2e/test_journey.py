"""The whole journey, end to end, over the public APIs of real processes: connect, schedule, publish (with a retry
and a permanent failure), and the audit log has every step."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
import pytest

from herald.contracts.platform import Platform
from tests.e2e.conftest import Api
from tests.support.eventually import eventually

# The first test's time includes starting every process (the module's fixture): minutes on a loaded machine.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]
TERMINAL = {"published", "failed", "unconfirmed", "cancelled", "missed"}


async def connect(api: Api, platform: Platform) -> list[dict[str, Any]]:
    """Every account the consent connected (LinkedIn: the member and the organizations it administers)."""
    start = await api.json("POST", f"{api.herald.url('tokens')}/v1/accounts/connect/{platform.value}", json={})
    async with httpx.AsyncClient(timeout=30) as browser:  # the user's browser: consent, then the callback
        callback = await browser.get(start["authorization_url"], follow_redirects=True)
    assert callback.status_code == 200, callback.text
    accounts: list[dict[str, Any]] = callback.json()["accounts"]
    return accounts


async def schedule(api: Api, content_id: str, platform: Platform, account_id: str, delay: float) -> str:
    body = {
        "content_id": content_id,
        "platform": platform.value,
        "account_id": account_id,
        "publish_at": (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=delay)).isoformat(),
        "retry": {"max_attempts": 3, "base_delay_seconds": 1},
    }

    async def scheduled() -> httpx.Response | None:
        response = await api.client.post(f"{api.herald.url('scheduler')}/v1/distributions", json=body)
        # the scheduler learns about accounts from AccountConnected events: unknown to it until then
        return None if response.status_code == 422 and "account" in response.text else response

    response = await eventually(scheduled, within=10, interval=0.1, what="the account known to the scheduler")
    assert response is not None
    assert response.status_code == 201, response.text
    return str(response.json()["distribution_id"])


async def new_content(api: Api, text: str) -> str:
    content = await api.json("POST", f"{api.herald.url('scheduler')}/v1/contents", json={"title": "E2E", "text": text})
    await api.json("POST", f"{api.herald.url('scheduler')}/v1/contents/{content['content_id']}/approve")
    return str(content["content_id"])


async def settle(api: Api, distribution_id: str, timeout: float = 60) -> dict[str, Any]:
    async def terminal() -> dict[str, Any] | None:
        found: dict[str, Any] = await api.json(
            "GET", f"{api.herald.url('scheduler')}/v1/distributions/{distribution_id}"
        )
        return found if found["status"] in TERMINAL else None

    found = await eventually(terminal, within=timeout, interval=0.2, what=f"{distribution_id} settled")
    assert found is not None
    return found


async def timeline(api: Api, distribution_id: str, expected_last: str) -> list[str]:
    async def ending_with_expected() -> list[str]:
        body = await api.json("GET", f"{api.herald.url('audit')}/v1/audit/distributions/{distribution_id}/timeline")
        actions = [entry["action"] for entry in body["items"]]
        return actions if actions and actions[-1] == expected_last else []

    # the audit service records the outcome a moment after the scheduler sees it
    return await eventually(ending_with_expected, within=20, interval=0.2, what=f"a timeline ending {expected_last}")


async def sandbox_posts(api: Api, platform: Platform, text: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=api.herald.sandbox(platform)) as sandbox:
        posts: list[dict[str, Any]] = (await sandbox.get("/_sandbox/posts")).json()
    return [p for p in posts if text in str(p.get("text")) or text in str(p)]


async def arm(api: Api, platform: Platform, **fault: Any) -> None:
    async with httpx.AsyncClient(base_url=api.herald.sandbox(platform)) as sandbox:
        (await sandbox.post("/_sandbox/faults", json=fault)).raise_for_status()


async def test_connect_schedule_publish_retry_fail_and_audit(api: Api) -> None:
    connected_accounts = [account for p in Platform for account in await connect(api, p)]
    assert {a["status"] for a in connected_accounts} == {"active"}
    accounts = {p: next(a for a in connected_accounts if a["platform"] == p.value) for p in Platform}

    # 1. One piece of content to all three platforms; X fails once with a 503 and is retried.
    text = f"Herald end-to-end {uuid.uuid4().hex[:10]}"
    content_id = await new_content(api, text)
    await arm(api, Platform.X, kind="error", error="service_unavailable", count=1)
    distributions = {p: await schedule(api, content_id, p, str(accounts[p]["id"]), delay=2) for p in Platform}
    outcomes = {p: await settle(api, d) for p, d in distributions.items()}
    assert {p: o["status"] for p, o in outcomes.items()} == dict.fromkeys(Platform, "published")
    for platform in Platform:
        posts = await sandbox_posts(api, platform, text)
        assert len(posts) == 1, f"{platform}: {posts}"
        assert outcomes[platform]["external_post_id"] == str(posts[0]["id"])
    x_attempts = [a["outcome"] for a in outcomes[Platform.X]["attempts"]]
    assert x_attempts == ["retry_scheduled", "succeeded"]

    # 2. A permanent failure: LinkedIn refuses the post as invalid; no retry, no post.
    failing_text = f"Herald end-to-end refused {uuid.uuid4().hex[:10]}"
    failing = await new_content(api, failing_text)
    await arm(api, Platform.LINKEDIN, kind="error", error="validation_error", count=1)
    failed_id = await schedule(api, failing, Platform.LINKEDIN, str(accounts[Platform.LINKEDIN]["id"]), delay=1)
    failed = await settle(api, failed_id)
    assert failed["status"] == "failed"
    assert [a["outcome"] for a in failed["attempts"]] == ["failed"]
    assert await sandbox_posts(api, Platform.LINKEDIN, failing_text) == []

    # 3. The audit log has every step, in order.
    assert await timeline(api, distributions[Platform.X], "content_published") == [
        "distribution_scheduled",
        "publish_requested",
        "publish_retry_scheduled",
        "content_published",
    ]
    for platform in (Platform.LINKEDIN, Platform.META):
        assert await timeline(api, distributions[platform], "content_published") == [
            "distribution_scheduled",
            "publish_requested",
            "content_published",
        ]
    assert await timeline(api, failed_id, "content_publish_failed") == [
        "distribution_scheduled",
        "publish_requested",
        "content_publish_failed",
    ]
    connected = await api.json(
        "GET", f"{api.herald.url('audit')}/v1/audit/events", params={"action": "account_connected"}
    )
    assert {item["entity_id"] for item in connected["items"]} == {str(a["id"]) for a in connected_accounts}
