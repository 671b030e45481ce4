"""Platform faults from the sandboxes' control API, injected while a batch is in flight: 5xx bursts, 429s with
reset hints, answers lost after the post was accepted (held past the client's timeout, dropped connections, 503),
an access token that expires under 500 posts at once on one account, and a revoked grant."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from typing import Any

import pytest

from herald.contracts.platform import Platform
from tests.chaos.batch import Batch, Planned
from tests.chaos.client import metric
from tests.chaos.conftest import Deployment
from tests.chaos.stack import PLATFORM_TIMEOUT_SECONDS

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(300)]

PREFETCH = 32
"""Publishers' default prefetch: the most deliveries one publisher has in flight at once."""
CREATE_CALLS = "herald_platform_call_duration_seconds_count"


def _retries(details: dict[str, dict[str, Any]], ids: set[str] | None = None) -> int:
    return sum(
        a["outcome"] == "retry_scheduled" for i, d in details.items() if ids is None or i in ids for a in d["attempts"]
    )


async def _unused_faults(herald: Deployment) -> dict[str, list[dict[str, Any]]]:
    """Faults still armed on each sandbox (a fault that never fired would make a scenario prove nothing)."""
    left = {p.value: await herald.sandboxes.armed(p) for p in Platform}
    return {p: f for p, f in left.items() if f}


def _created_at(post: dict[str, Any]) -> dt.datetime:
    return dt.datetime.fromisoformat(str(post["created_at"]))


async def test_5xx_bursts(herald: Deployment) -> None:
    bursts = {
        Platform.X: ("server_error", "service_unavailable"),
        Platform.LINKEDIN: ("server_error", "service_unavailable", "gateway_timeout"),
        Platform.META: ("server_error", "unknown_error", "service_unavailable"),
    }
    per_error = 4
    batch = await Batch.schedule(herald.team, herald.sandboxes, "5xx-bursts", herald.default_batch())
    await batch.wait_posted(len(batch.planned) // 4)

    batch.mark_fault()
    for platform, errors in bursts.items():
        for error in errors:
            await herald.sandboxes.arm(platform, kind="error", error=error, count=per_error)
    injected = per_error * sum(len(e) for e in bursts.values())

    figures, details = await batch.verify(herald.record, notes={"injected_5xx": injected})
    assert await _unused_faults(herald) == {}, "some 5xx were never served: the burst outlived the batch"
    retries = figures.notes["retries"] = _retries(details)
    assert retries >= injected, f"{injected} 5xx answers but only {retries} retries were scheduled"


async def test_429_with_reset_hints(herald: Deployment) -> None:
    """X and LinkedIn answer 429 for one account each until a reset a few seconds ahead. Herald holds the account
    (no call before the reset; only the calls already in flight meet the 429) and publishes everything after it.
    (Meta's reset hint is in whole minutes, which would hold this scenario for a minute: not exercised here.)"""
    limited = {
        Platform.X: next(t for t in herald.targets if t.platform is Platform.X),
        Platform.LINKEDIN: next(t for t in herald.targets if t.platform is Platform.LINKEDIN),
    }
    batch = await Batch.schedule(herald.team, herald.sandboxes, "429-reset-hints", herald.default_batch())
    await batch.wait_posted(len(batch.planned) // 4)

    batch.mark_fault()
    armed_at = dt.datetime.now(dt.UTC)
    until = armed_at + dt.timedelta(seconds=4)
    for platform, target in limited.items():
        await herald.sandboxes.arm(
            platform, kind="rate_limit", account=target.sandbox_account, until=until.isoformat(), count=1
        )

    figures, _ = await batch.verify(herald.record, notes={"limited_for": "4s"})
    for platform, target in limited.items():
        posts = [p for p in await batch.sandbox_posts() if p["account"] == target.sandbox_account]
        early = [p["id"] for p in posts if armed_at <= _created_at(p) < until]
        assert not early, f"{platform}: posts accepted during the rate limit: {early}"
        assert any(_created_at(p) >= until for p in posts), f"{platform}: no post after the reset: the limit missed"
        creates = (await herald.sandboxes.stats(platform))["create_requests"].get(target.sandbox_account, 0)
        refused = figures.notes[f"429s_{platform.value}"] = creates - len(posts)
        assert 1 <= refused <= PREFETCH, f"{platform}: {refused} create calls were refused with 429 (retry storm?)"


async def test_answers_lost_after_the_post_was_accepted(herald: Deployment) -> None:
    """The platform stores the post but the answer is lost: held past the client timeout, the connection cut, or
    a 503. Herald must read the platform back and find the post: never a second create for an accepted post."""
    per_mode = 3
    batch = await Batch.schedule(herald.team, herald.sandboxes, "accept-then-fail", herald.default_batch())
    await batch.wait_posted(len(batch.planned) // 4)

    batch.mark_fault()
    held_ms = int((PLATFORM_TIMEOUT_SECONDS + 1.5) * 1000)
    for platform in Platform:
        await herald.sandboxes.arm(
            platform, kind="accept_then_fail", mode="timeout", latency_ms=held_ms, count=per_mode
        )
        await herald.sandboxes.arm(platform, kind="accept_then_fail", mode="drop", count=per_mode)
        await herald.sandboxes.arm(platform, kind="accept_then_fail", mode="503", count=per_mode)

    figures, _ = await batch.verify(herald.record, notes={"lost_answers": 3 * per_mode * len(Platform)})
    assert await _unused_faults(herald) == {}, "some accept_then_fail faults never fired"
    posts = Counter(p["platform"] for p in await batch.sandbox_posts())
    for platform in Platform:
        creates = sum((await herald.sandboxes.stats(platform))["create_requests"].values())
        figures.notes[f"creates_{platform.value}"] = f"{creates}/{posts[platform]}posts"
        # LinkedIn members cannot be read back (closed r_member_social): re-sending the identical commentary IS the
        # read-back there, answered 422 DUPLICATE_POST naming our post (reference section 4). Everywhere else an
        # accepted post is never sent again. Either way no post exists twice (checked by verify above).
        resends = 3 * per_mode if platform is Platform.LINKEDIN else 0
        assert posts[platform] <= creates <= posts[platform] + resends, (
            f"{platform}: {creates} create calls for {posts[platform]} posts: an accepted post was sent again"
        )


@pytest.mark.timeout(420)
async def test_token_expiring_under_500_posts_is_refreshed_once(herald: Deployment) -> None:
    """One LinkedIn member's access token expires at the platform just before 500 of its posts fall due at the
    same instant: every post is published, with exactly one refresh at the platform."""
    member = f"chaos-expiry-{uuid.uuid4().hex[:6]}"
    (target,) = await herald.connect(Platform.LINKEDIN, member)
    before = (await herald.sandboxes.stats(Platform.LINKEDIN))["token_requests"].get(member, 0)
    assert await herald.sandboxes.expire(Platform.LINKEDIN, member) >= 1

    batch = await Batch.schedule(
        herald.team, herald.sandboxes, "token-expiry-500", [(target, 500)], lead_seconds=3, spread_seconds=0
    )
    batch.mark_fault()
    since = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)

    figures, _ = await batch.verify(herald.record, settle_timeout=240)
    refreshes = (await herald.sandboxes.stats(Platform.LINKEDIN))["token_requests"].get(member, 0) - before
    refreshed = await herald.team.audit_events("token_refreshed", since)
    audited = [e for e in refreshed if e["entity_id"] == target.account_id]
    figures.notes |= {"platform_refreshes": refreshes, "token_refreshed_rows": len(audited)}
    batch_figures = f"refreshes at the platform={refreshes}, token_refreshed audit rows={len(audited)}"
    assert refreshes == 1, f"expected exactly one refresh at the platform: {batch_figures}"
    assert len(audited) == 1, f"expected one token_refreshed audit row: {batch_figures}"


async def test_revoked_grant_fails_fast_without_a_retry_storm(herald: Deployment) -> None:
    """A LinkedIn member removes the app mid-batch (every token revoked). Their later posts fail as
    ``reconnect_required`` with no retry; the account is flagged for reconnection, so the platform is not called
    again for each remaining post; everyone else's posts are unaffected.

    The LinkedIn sandbox counts only creates that pass its token check, so the calls refused for the revoked token
    are counted by the publisher (``herald_platform_call_duration_seconds_count``, every create it made) minus the
    posts that exist; no other LinkedIn fault is armed in this scenario."""
    member = f"chaos-revoked-{uuid.uuid4().hex[:6]}"
    (revoked,) = await herald.connect(Platform.LINKEDIN, member)
    publisher = herald.stack.url("publisher-linkedin")
    calls_before = await metric(publisher, CREATE_CALLS, platform="linkedin", operation="create")
    on_revoked = 80
    batch = await Batch.schedule(
        herald.team,
        herald.sandboxes,
        "revoked-grant",
        [(revoked, on_revoked), *herald.default_batch(per_x=8, per_linkedin=10, per_meta=10)],
        spread_seconds=8,
    )
    await batch.wait_posted(len(batch.planned) // 4)

    batch.mark_fault()
    revoked_at = dt.datetime.now(dt.UTC)
    assert revoked_at < batch.last_due, "the batch was over before the revoke: the scenario proves nothing"
    assert await herald.sandboxes.revoke(Platform.LINKEDIN, member) >= 1

    def expected(planned: Planned) -> frozenset[str]:
        return frozenset({"published", "failed"}) if planned.target == revoked else frozenset({"published"})

    figures, details = await batch.verify(herald.record, expected=expected, notes={"revoked_member_posts": on_revoked})
    mine = {p.distribution_id for p in batch.planned if p.target == revoked}
    failed = [details[i] for i in mine if details[i]["status"] == "failed"]
    published = [details[i] for i in mine if details[i]["status"] == "published"]
    assert failed, "no post of the revoked member failed: the revoke did not land mid-batch"
    assert {d["failure_reason"] for d in failed} == {"reconnect_required"}, [d["failure_reason"] for d in failed]
    assert _retries(details, mine) == 0, "a revoked grant was retried"
    posts = [p for p in await batch.sandbox_posts() if p["account"] == member]
    assert len(posts) == len(published)
    assert all(_created_at(p) < revoked_at + dt.timedelta(seconds=2) for p in posts)

    calls = await metric(publisher, CREATE_CALLS, platform="linkedin", operation="create") - calls_before
    linkedin_posts = sum(p["platform"] is Platform.LINKEDIN for p in await batch.sandbox_posts())
    refused = int(calls) - linkedin_posts
    account = await herald.team.account(revoked.account_id)
    figures.notes |= {"refused_creates": refused, "account_status": account["status"]}
    assert refused <= len(failed), f"{refused} refused create calls for {len(failed)} failed posts: retries"
    assert account["status"] != "active", (
        f"the account is still {account['status']} after its grant was revoked: nobody is told to reconnect it, and"
        f" each of its remaining posts still calls LinkedIn ({refused} refused create calls for {len(failed)} posts)"
    )
    assert refused <= PREFETCH, (
        f"{refused} create calls with a revoked token for {len(failed)} failed posts: the platform is called again"
        " for every post instead of once per in-flight delivery"
    )
