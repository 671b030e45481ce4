"""Waits that use up no attempt, on the real broker and database: usage caps and operator errors (issue 14).

A usage cap is a reset beyond the longest tier and at least 4 hours away: X's monthly usage cap (reset at the start
of next month) is far beyond it, while the 100/200/400 ms tiers here keep the test fast.
"""

import datetime as dt

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from herald.publishing.retry import app_hold_id
from tests.publishing.conftest import Stack

SUCCEEDED = "com.herald.publish.succeeded"
FAILED = "com.herald.publish.failed"
RETRY = "com.herald.publish.retry_scheduled"


def _kinds(seen: list[tuple[str, dict[str, object], str]]) -> list[str]:
    return [kind.rsplit(".", 1)[0] for kind, _, _ in seen]


async def _create_requests(stack: Stack) -> int:
    stats = (await stack.sandbox.get("/_sandbox/stats")).json()
    count: int = stats["create_requests"].get(stack.sandbox_account, 0)
    return count


async def _end_app_hold(stack: Stack) -> None:
    """What the cap's reset does: the hold ends (the next delivery then sends)."""
    engine = create_async_engine(stack.settings.database_url.get_secret_value())
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text("UPDATE publisher_x.account_holds SET until = now() - interval '1 second' WHERE account_id = :a"),
                {"a": app_hold_id("x")},
            )
    finally:
        await engine.dispose()


async def test_a_usage_cap_holds_the_app_until_it_resets_without_using_attempts(stack: Stack) -> None:
    await stack.arm(kind="error", error="usage_capped", count=1)
    first = stack.request(max_attempts=1)  # any consumed attempt would fail it
    await stack.send(first)
    held = await stack.outcomes_for(first.distribution_id, RETRY)
    assert held[-1][1]["error_class"] == "usage_capped"
    assert held[-1][1]["attempt"] == 1
    # Held until the start of next month (X's product cap), not the 15-minute window of the headers.
    next_attempt_at = dt.datetime.fromisoformat(str(held[-1][1]["next_attempt_at"]))
    assert next_attempt_at - dt.datetime.now(dt.UTC) < dt.timedelta(seconds=5)  # through the longest tier...
    assert "held until" in str(held[-1][1]["reason"])
    # ... and the next delivery finds the hold again, without calling X.
    again = await stack.outcomes_for(first.distribution_id, RETRY)
    assert again[-1][1]["error_class"] == "usage_capped"
    assert again[-1][1]["attempt"] == 1
    # A product-scope cap binds every account: another post waits too, and X is not called.
    second = stack.request(max_attempts=1)
    await stack.send(second)
    assert (await stack.outcomes_for(second.distribution_id, RETRY))[-1][1]["error_class"] == "usage_capped"
    assert await _create_requests(stack) == 1
    assert stack.registry is not None
    until = stack.registry.get_sample_value(
        "herald_publish_held_until_timestamp_seconds", {"platform": "x", "scope": "app"}
    )
    now = dt.datetime.now(dt.UTC)
    month = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    reset = month.replace(year=month.year + 1, month=1) if month.month == 12 else month.replace(month=month.month + 1)
    assert until == reset.timestamp()
    # The cap resets: both posts go out, on their first attempt.
    await _end_app_hold(stack)
    for request in (first, second):
        seen = await stack.outcomes_for(request.distribution_id, SUCCEEDED)
        assert FAILED not in _kinds(seen)
        assert seen[-1][1]["attempt"] == 1


async def test_an_operator_error_holds_the_post_and_never_asks_for_a_reconnect(stack: Stack) -> None:
    await stack.arm(kind="error", error="client_forbidden", count=2)  # the app is not enrolled: an operator's fix
    request = stack.request(max_attempts=1)
    await stack.send(request)
    seen = await stack.outcomes_for(request.distribution_id, SUCCEEDED)
    assert _kinds(seen) == [RETRY, RETRY, SUCCEEDED]
    assert [payload["error_class"] for _, payload, _ in seen[:2]] == ["configuration", "configuration"]
    assert all(payload["attempt"] == 1 for _, payload, _ in seen)
    assert stack.account_id not in stack.tokens.reauth
    assert stack.registry is not None
    errors = stack.registry.get_sample_value(
        "herald_configuration_errors_total", {"platform": "x", "operation": "create"}
    )
    assert errors == 2
