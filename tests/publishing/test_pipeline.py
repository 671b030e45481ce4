"""The publishing pipeline on the real broker and database, against the X sandbox over HTTP."""

import datetime as dt
import uuid

import aio_pika
import asyncpg

from herald.contracts.base import SYSTEM_ACTOR
from herald.contracts.distribution import DistributionCancelled
from herald.contracts.publishing import PublishRequestedV1
from herald.contracts.routing import EVENTS_EXCHANGE
from herald.kit.consumers import PARKED_REASON_HEADER
from herald.operator.parking import ParkingLot
from herald.operator.settings import OperatorSettings
from tests.publishing.conftest import Stack
from tests.support.eventually import eventually
from tests.support.queues import take

SUCCEEDED = "com.herald.publish.succeeded"
FAILED = "com.herald.publish.failed"
RETRY = "com.herald.publish.retry_scheduled"
UNCONFIRMED = "com.herald.publish.unconfirmed"


def kinds(seen: list[tuple[str, dict[str, object], str]]) -> list[str]:
    return [kind.rsplit(".", 1)[0] for kind, _, _ in seen]


async def test_publishes_once_and_reports_the_post(stack: Stack) -> None:
    request = stack.request()
    await stack.send(request)
    seen = await stack.outcomes_for(request.distribution_id, SUCCEEDED)
    [(_, payload, _)] = seen
    posts = await stack.posts()
    assert [p["id"] for p in posts if p["text"] == request.text] == [payload["external_post_id"]]
    assert payload["attempt"] == 1
    assert payload["reconciled"] is False


async def test_a_redelivered_request_never_posts_twice(stack: Stack) -> None:
    request = stack.request()
    event_id = str(uuid.uuid4())
    await stack.send(request, event_id=event_id)
    first = await stack.outcomes_for(request.distribution_id, SUCCEEDED)
    await stack.send(request, event_id=event_id)
    second = await stack.outcomes_for(request.distribution_id, SUCCEEDED)
    assert len([p for p in await stack.posts() if p["text"] == request.text]) == 1
    # The re-emitted success is the same event (id and time), so the audit log and the scheduler deduplicate it.
    assert first[0][2] == second[0][2]
    assert first[0][1]["occurred_at"] == second[0][1]["occurred_at"]


async def test_a_server_error_is_reconciled_then_retried_through_a_tier(stack: Stack) -> None:
    await stack.arm(kind="error", error="server_error", count=1)
    request = stack.request()
    await stack.send(request)
    seen = await stack.outcomes_for(request.distribution_id, SUCCEEDED)
    assert kinds(seen) == [RETRY, SUCCEEDED]
    retry, success = seen[0][1], seen[1][1]
    assert retry["attempt"] == 1
    assert retry["error_class"] == "unknown_outcome"
    assert success["attempt"] == 2
    assert len([p for p in await stack.posts() if p["text"] == request.text]) == 1


async def test_an_accepted_but_failed_create_is_found_by_read_back(stack: Stack) -> None:
    await stack.arm(kind="accept_then_fail", mode="503", count=1)
    request = stack.request()
    await stack.send(request)
    [(_, payload, _)] = await stack.outcomes_for(request.distribution_id, SUCCEEDED)
    assert payload["reconciled"] is True
    assert len([p for p in await stack.posts() if p["text"] == request.text]) == 1


async def test_a_create_completing_after_the_timeout_is_found_by_the_retry_not_sent_again(stack: Stack) -> None:
    # The sandbox stores the post 1.1 s after the call arrives, 0.1 s after the publisher gave up on it (its timeout
    # is 1 s): the read-back right after the timeout finds nothing, the retry (a tier of 400 ms later) must read
    # back again and find it. Sending again would post twice (or, where the platform refuses the copy, report a
    # published post as a failed duplicate).
    await stack.arm(kind="accept_then_fail", mode="late", latency_ms=1100, count=1)
    request = stack.request()
    await stack.send(request)
    seen = await stack.outcomes_for(request.distribution_id, SUCCEEDED)
    assert kinds(seen)[-1] == SUCCEEDED
    assert FAILED not in kinds(seen)
    assert seen[-1][1]["reconciled"] is True
    assert len([p for p in await stack.posts() if p["text"] == request.text]) == 1


async def test_attempts_run_out_into_the_parking_queue(stack: Stack) -> None:
    await stack.arm(kind="error", error="server_error", count=10)
    request = stack.request(max_attempts=3)
    await stack.send(request)
    seen = await stack.outcomes_for(request.distribution_id, FAILED)
    assert kinds(seen) == [RETRY, RETRY, FAILED]
    assert [p["attempt"] for _, p, _ in seen] == [1, 2, 3]
    assert seen[-1][1]["reason"] == "attempts_exhausted"
    parking = await stack.channel.declare_queue("publisher.x.dead", passive=True)
    [parked] = await take(parking, 1, within=5, ack=True)
    assert "3 attempts failed" in str(parked.headers[PARKED_REASON_HEADER])
    assert parked.headers["herald-attempt"] == 3


async def test_an_expired_token_is_refreshed_and_the_post_retried_at_once(stack: Stack) -> None:
    warm = stack.request()
    await stack.send(warm)
    await stack.outcomes_for(warm.distribution_id, SUCCEEDED)
    await stack.sandbox.post(f"/_sandbox/accounts/{stack.sandbox_account}/expire")
    request = stack.request()
    await stack.send(request)
    seen = await stack.outcomes_for(request.distribution_id, SUCCEEDED)
    assert kinds(seen) == [SUCCEEDED]
    assert seen[0][1]["attempt"] == 1
    assert stack.tokens.refreshes == 1


async def test_a_revoked_account_fails_as_reconnect_required_without_retries(stack: Stack) -> None:
    warm = stack.request()
    await stack.send(warm)
    await stack.outcomes_for(warm.distribution_id, SUCCEEDED)
    await stack.sandbox.post(f"/_sandbox/accounts/{stack.sandbox_account}/revoke")
    stack.tokens.refresh_rejected.add(stack.account_id)  # X answers 401; the refresh token is dead too
    request = stack.request()
    await stack.send(request)
    seen = await stack.outcomes_for(request.distribution_id, FAILED)
    assert kinds(seen) == [FAILED]
    assert seen[0][1]["reason"] == "reconnect_required"
    # The token service now knows, so the next post stops there instead of calling X again.
    assert stack.account_id in stack.tokens.reauth
    calls = (await stack.sandbox.get("/_sandbox/stats")).json()["create_requests"].get(stack.sandbox_account, 0)
    after = stack.request()
    await stack.send(after)
    assert (await stack.outcomes_for(after.distribution_id, FAILED))[0][1]["reason"] == "reconnect_required"
    stats = (await stack.sandbox.get("/_sandbox/stats")).json()
    assert stats["create_requests"].get(stack.sandbox_account, 0) == calls


async def test_a_rate_limited_account_waits_instead_of_failing_one_by_one(stack: Stack) -> None:
    until = dt.datetime.now(dt.UTC) + dt.timedelta(milliseconds=700)
    await stack.arm(kind="rate_limit", until=until.isoformat())
    first = stack.request()
    await stack.send(first)
    await stack.outcomes_for(first.distribution_id, RETRY)
    others = [stack.request() for _ in range(3)]
    for request in others:
        await stack.send(request)
    results = [await stack.outcomes_for(r.distribution_id, SUCCEEDED) for r in [first, *others]]
    stats = (await stack.sandbox.get("/_sandbox/stats")).json()
    # Only the first request reached the platform while the limit was on; the others waited for it to lift.
    assert stats["create_requests"][stack.sandbox_account] == 5
    assert all(seen[-1][1]["attempt"] == (2 if i == 0 else 1) for i, seen in enumerate(results))
    assert all(kinds(seen)[:-1] == [RETRY] * (len(seen) - 1) for seen in results)


async def test_a_malformed_message_is_parked_and_the_consumer_goes_on(stack: Stack) -> None:
    exchange = await stack.channel.get_exchange(EVENTS_EXCHANGE)
    await exchange.publish(aio_pika.Message(b"{oops", message_id="garbage-1"), routing_key="publish.requested.v2.x")
    request = stack.request()
    await stack.send(request)
    await stack.outcomes_for(request.distribution_id, SUCCEEDED)
    parking = await stack.channel.declare_queue("publisher.x.dead", passive=True)

    async def garbage_parked() -> aio_pika.abc.AbstractIncomingMessage | None:
        while (message := await parking.get(fail=False)) is not None:
            await message.ack()
            if message.message_id == "garbage-1":
                return message
        return None

    found = await eventually(garbage_parked, within=5)
    assert found is not None
    assert "CloudEvents" in str(found.headers[PARKED_REASON_HEADER])


async def test_a_cancel_before_publishing_wins(stack: Stack) -> None:
    request = stack.request()
    cancel = DistributionCancelled(
        team_id=request.team_id,
        correlation_id=request.correlation_id,
        actor=SYSTEM_ACTOR,
        occurred_at=request.occurred_at,
        distribution_id=request.distribution_id,
        content_id=request.content_id,
        account_id=request.account_id,
        platform=request.platform,
        reason="user cancelled",
    )
    await stack.send(cancel)

    async def cancel_recorded() -> bool:
        # the ledger row the cancel writes: the request must arrive after it (the queue is consumed concurrently)
        conn = await asyncpg.connect(stack.settings.database_url.get_secret_value().replace("+asyncpg", "", 1))
        try:
            query = "SELECT status FROM publisher_x.deliveries WHERE distribution_id = $1"
            return bool(await conn.fetchval(query, request.distribution_id) == "cancelled")
        finally:
            await conn.close()

    await eventually(cancel_recorded, interval=0.1)
    await stack.send(request)
    seen = await stack.outcomes_for(request.distribution_id, FAILED)
    assert seen[-1][1]["reason"] == "cancelled"
    assert [p for p in await stack.posts() if p["text"] == request.text] == []


async def test_metrics_record_attempts_lateness_retries_and_reconciliations(stack: Stack) -> None:
    await stack.arm(kind="accept_then_fail", mode="503", count=1)
    request = stack.request()
    await stack.send(request)
    await stack.outcomes_for(request.distribution_id, SUCCEEDED)
    assert stack.registry is not None
    sample = stack.registry.get_sample_value
    assert sample("herald_publish_attempts_total", {"platform": "x", "outcome": "published"}) == 1
    assert sample("herald_reconciliations_total", {"platform": "x", "result": "found"}) == 1
    assert sample("herald_publish_lateness_seconds_count", {"platform": "x"}) == 1
    assert (sample("herald_platform_call_duration_seconds_count", {"platform": "x", "operation": "create"}) or 0) >= 1


async def test_an_operator_replay_after_a_fix_publishes_a_failed_distribution(stack: Stack) -> None:
    await stack.arm(kind="error", error="server_error", count=2)
    request = stack.request(max_attempts=2)
    event_id = str(uuid.uuid4())
    await stack.send(request, event_id=event_id)
    failed = await stack.outcomes_for(request.distribution_id, FAILED)
    assert failed[-1][1]["reason"] == "attempts_exhausted"

    # The platform has recovered: the operator replays the parked message with the real tool.
    settings = OperatorSettings(amqp_url=stack.settings.amqp_url)
    async with ParkingLot.open(settings) as lot:
        report = await lot.replay("publisher.x.dead", message_ids=[event_id], note="X is back")
    assert len(report.replayed) == 1
    seen = await stack.outcomes_for(request.distribution_id, SUCCEEDED)
    assert seen[-1][1]["attempt"] == 1  # the replay starts a new run with its attempts reset
    assert len([p for p in await stack.posts() if p["text"] == request.text]) == 1
    # A second delivery of the same replay does not reopen it again: the post exists once.
    await stack.send(request, event_id=event_id)
    await stack.outcomes_for(request.distribution_id, SUCCEEDED)
    assert len([p for p in await stack.posts() if p["text"] == request.text]) == 1


async def test_a_recorded_failure_is_re_emitted_identically_after_a_crash(stack: Stack) -> None:
    await stack.arm(kind="error", error="too_long", count=1)  # X refuses it: a permanent error
    request = stack.request()
    event_id = str(uuid.uuid4())
    await stack.send(request, event_id=event_id)
    [(_, first, first_id)] = await stack.outcomes_for(request.distribution_id, FAILED)
    # As if the process died after recording the failure and before acknowledging: the message comes again.
    await stack.send(request, event_id=event_id)
    [(_, again, again_id)] = await stack.outcomes_for(request.distribution_id, FAILED)
    assert again_id == first_id
    assert again == first  # the same event, time included, so the audit log deduplicates it
    assert first["reason"] == "permanent"
    assert [p for p in await stack.posts() if p["text"] == request.text] == []


async def test_a_request_for_an_account_that_does_not_exist_fails_with_that_reason(stack: Stack) -> None:
    request = stack.request(account_id=uuid.uuid4())
    await stack.send(request)
    seen = await stack.outcomes_for(request.distribution_id, FAILED)
    assert kinds(seen) == [FAILED]
    assert seen[0][1]["reason"] == "reconnect_required"
    assert f"account {request.account_id} is unknown to the token service" in seen[0][1]["message"]


async def test_a_v1_request_on_the_legacy_key_is_still_published(stack: Stack) -> None:
    # A scheduler not yet upgraded (or a v1 retry copy) sends publish.requested.v1: read as v2 without media.
    request = PublishRequestedV1.model_validate(stack.request().model_dump(exclude={"surface", "media"}))
    await stack.send(request)
    [(_, payload, _)] = await stack.outcomes_for(request.distribution_id, SUCCEEDED)
    assert [p["id"] for p in await stack.posts() if p["text"] == request.text] == [payload["external_post_id"]]
