"""Every decision of the publishing pipeline, on in-memory fakes: error class x ledger state x attempt number.

No broker, database or HTTP: the whole module runs in well under a second. The same behaviour on the real
infrastructure is tested by ``test_pipeline.py`` and ``test_crash.py``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, replace

import pytest

from herald.contracts.operations import ParkCategory
from herald.contracts.publishing import (
    FailureReason,
    PublishFailed,
    PublishRetryScheduled,
    PublishSucceeded,
    PublishUnconfirmed,
)
from herald.platforms.base import ErrorClass, PlatformError, PublishedPost
from herald.publishing.attempt import Attempt
from herald.publishing.decisions import Ack, Decision, Park, Retry
from herald.publishing.ledger import Delivery, Failure, Status
from herald.publishing.service import REMEDIES
from herald.publishing.tokens import ReauthRequired, TokenUnavailable
from tests.publishing.fakes import GRACE, RULE_BREAKER, START, TIERS_MS, FakeClient, FakeTokens, Harness, request

pytestmark = pytest.mark.fast

MAX_ATTEMPTS = 3
ATTEMPTS = (1, 2, MAX_ATTEMPTS)  # the first, one in the middle, the last


def failure(
    error_class: ErrorClass, *, retry_at: dt.datetime | None = None, existing_post_id: str | None = None
) -> PlatformError:
    message = f"the platform said {error_class.value}"
    return PlatformError(error_class, message, http_status=400, retry_at=retry_at, existing_post_id=existing_post_id)


# -- the table ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Expect:
    """What one delivery must lead to."""

    decision: type[Ack | Retry | Park]
    status: Status
    events: tuple[type, ...] = ()
    """Final outcome events published by the pipeline itself."""
    creates: int = 0
    announced: str | None = None
    """The error class a retry announces (``PublishRetryScheduled``); None: no announcement."""
    next_attempt: int | None = None
    """Relative to the delivery's attempt: +1 (an attempt was used) or 0 (none was)."""
    reason: FailureReason | None = None


def retried(error_class: str, creates: int = 1) -> Expect:
    return Expect(Retry, Status.RETRYING, creates=creates, announced=error_class, next_attempt=1)


def failed(reason: FailureReason, creates: int = 1, decision: type[Ack | Park] = Ack) -> Expect:
    return Expect(decision, Status.FAILED, (PublishFailed,), creates=creates, reason=reason)


def held(error_class: str) -> Expect:
    return Expect(Retry, Status.RETRYING, creates=1, announced=error_class, next_attempt=0)


EXHAUSTED = failed(FailureReason.ATTEMPTS_EXHAUSTED, decision=Park)
PUBLISHED = Expect(Ack, Status.PUBLISHED, (PublishSucceeded,), creates=2)

AFTER_A_REFUSED_CREATE: dict[tuple[ErrorClass, bool], Expect] = {
    # (error class of the first create, is this the last attempt?) -> what happens. The second create succeeds.
    (ErrorClass.RETRY_LATER, False): retried("retry_later"),
    (ErrorClass.RETRY_LATER, True): EXHAUSTED,
    (ErrorClass.REFRESH_TOKEN, False): PUBLISHED,  # refreshed, then sent again at once
    (ErrorClass.REFRESH_TOKEN, True): PUBLISHED,
    (ErrorClass.RECONNECT, False): failed(FailureReason.RECONNECT_REQUIRED),
    (ErrorClass.RECONNECT, True): failed(FailureReason.RECONNECT_REQUIRED),
    (ErrorClass.PERMANENT, False): failed(FailureReason.PERMANENT),
    (ErrorClass.PERMANENT, True): failed(FailureReason.PERMANENT),
    (ErrorClass.DUPLICATE, False): failed(FailureReason.DUPLICATE),  # fresh content: the user posted it already
    (ErrorClass.DUPLICATE, True): failed(FailureReason.DUPLICATE),
    (ErrorClass.UNKNOWN_OUTCOME, False): retried("unknown_outcome"),  # read back, not there: retry
    (ErrorClass.UNKNOWN_OUTCOME, True): EXHAUSTED,
    # Herald's own configuration is wrong: held for an operator, never failed and no attempt used, even the last.
    (ErrorClass.CONFIGURATION, False): held("configuration"),
    (ErrorClass.CONFIGURATION, True): held("configuration"),
}

CLAIMABLE: dict[str, tuple[Delivery | None, str | None]] = {
    # ledger row before the delivery, and the delivery's replay marker
    "new": (None, None),
    "retrying": (Delivery(uuid.UUID(int=0), Status.RETRYING, 1, START), None),
    "failed, replayed by an operator": (
        Delivery(uuid.UUID(int=0), Status.FAILED, 3, START, failure=Failure("attempts_exhausted", "x")),
        "2026-12-01T10:00:00Z",
    ),
}


def expected_when_settled(state: str, attempt: int) -> Expect:
    """The ledger already holds a final outcome, or a live call: nothing is sent, whatever the platform would say."""
    return {
        "published": Expect(Ack, Status.PUBLISHED, (PublishSucceeded,)),
        "cancelled": Expect(Ack, Status.CANCELLED, (PublishFailed,), reason=FailureReason.CANCELLED),
        "failed": Expect(Ack, Status.FAILED, (PublishFailed,), reason=FailureReason.PERMANENT),
        "failed, redelivered with the same replay marker": Expect(
            Ack, Status.FAILED, (PublishFailed,), reason=FailureReason.PERMANENT
        ),
        "unconfirmed": Expect(Ack, Status.UNCONFIRMED, (PublishUnconfirmed,)),
        "sending, within the grace": Expect(Retry, Status.SENDING, next_attempt=0),
        # Claimed long ago, but its delivery renewed the mark within the grace: still at work (a long media upload).
        "sending for long, alive within the grace": Expect(Retry, Status.SENDING, next_attempt=0),
        # A call that died: read back (not there), so it counts as the ledger's attempt 2 failing.
        "sending, abandoned": retried("unknown_outcome", creates=0)
        if max(attempt, 2) < MAX_ATTEMPTS
        else failed(FailureReason.ATTEMPTS_EXHAUSTED, creates=0, decision=Park),
    }[state]


def settled(state: str, distribution_id: uuid.UUID) -> tuple[Delivery, str | None]:
    published = Delivery(distribution_id, Status.PUBLISHED, 1, START, post_id="p-1", finished_at=START)
    permanent = Failure("permanent", "refused", error_class="permanent")
    return {
        "published": (published, None),
        "cancelled": (Delivery(distribution_id, Status.CANCELLED, 0, None, finished_at=START), None),
        "failed": (Delivery(distribution_id, Status.FAILED, 1, START, failure=permanent, finished_at=START), None),
        "failed, redelivered with the same replay marker": (
            Delivery(distribution_id, Status.FAILED, 1, START, failure=permanent, generation="r1", finished_at=START),
            "r1",
        ),
        "unconfirmed": (
            Delivery(distribution_id, Status.UNCONFIRMED, 1, START, failure=Failure("unconfirmed", "?")),
            None,
        ),
        "sending, within the grace": (Delivery(distribution_id, Status.SENDING, 1, START), None),
        "sending for long, alive within the grace": (
            Delivery(distribution_id, Status.SENDING, 1, START - 5 * GRACE, alive_at=START - GRACE / 2),
            None,
        ),
        "sending, abandoned": (
            Delivery(distribution_id, Status.SENDING, 2, START - 5 * GRACE, alive_at=START - GRACE),
            None,
        ),
    }[state]


SETTLED_STATES = (
    "published",
    "cancelled",
    "failed",
    "failed, redelivered with the same replay marker",
    "unconfirmed",
    "sending, within the grace",
    "sending for long, alive within the grace",
    "sending, abandoned",
)


def check(harness: Harness, attempt: Attempt, decision: Decision, expect: Expect, where: str = "") -> None:
    try:
        _check(harness, attempt, decision, expect)
    except AssertionError as exc:
        raise AssertionError(f"{where}: {decision} instead of {expect}\n{exc}") from exc


def _check(harness: Harness, attempt: Attempt, decision: Decision, expect: Expect) -> None:
    assert type(decision) is expect.decision
    assert harness.ledger.status(attempt.distribution_id) is expect.status
    assert [type(event) for event, _ in harness.sink.published] == list(expect.events)
    assert len(harness.client.sent) == expect.creates
    if expect.reason is not None:
        last = harness.sink.published[-1][0]
        assert isinstance(last, PublishFailed)
        assert last.reason is expect.reason
    if isinstance(decision, Retry):
        assert expect.next_attempt is not None
        assert decision.next_attempt == attempt.number + expect.next_attempt
        announced = decision.announcement
        if expect.announced is None:
            assert announced is None
        else:
            assert announced is not None
            assert isinstance(announced.event, PublishRetryScheduled)
            assert announced.event.error_class == expect.announced
            assert announced.event.next_attempt_at == harness.clock() + dt.timedelta(milliseconds=decision.plan.tier_ms)
    if isinstance(decision, Park):
        assert decision.category is ParkCategory.ATTEMPTS_EXHAUSTED
        assert decision.reason.startswith(f"{MAX_ATTEMPTS} attempts failed; last: ")


@pytest.mark.parametrize("state", list(CLAIMABLE))
@pytest.mark.parametrize("error_class", list(ErrorClass))
async def test_a_refused_create(error_class: ErrorClass, state: str) -> None:
    for number in ATTEMPTS:
        harness = Harness.build(FakeClient(creates=[failure(error_class, existing_post_id="p-9")]))
        row, replay = CLAIMABLE[state]
        attempt = Attempt(request(max_attempts=MAX_ATTEMPTS), number, replay)
        if row is not None:
            harness.ledger.put(replace(row, distribution_id=attempt.distribution_id))
        decision = await harness.pipeline.process(attempt)
        expect = AFTER_A_REFUSED_CREATE[error_class, number == MAX_ATTEMPTS]
        check(harness, attempt, decision, expect, f"{error_class.value}, {state}, attempt {number}")
        if replay is not None and harness.sink.published:
            assert harness.ledger.rows[attempt.distribution_id].generation == replay


@pytest.mark.parametrize("state", SETTLED_STATES)
async def test_a_settled_or_live_ledger_row(state: str) -> None:
    for error_class in ErrorClass:
        for number in ATTEMPTS:
            harness = Harness.build(FakeClient(creates=[failure(error_class)]))
            attempt = Attempt(request(max_attempts=MAX_ATTEMPTS), number)
            row, replay = settled(state, attempt.distribution_id)
            harness.ledger.put(row)
            decision = await harness.pipeline.process(replace(attempt, replay=replay))
            resumed = attempt.numbered(max(number, row.attempt)) if row.status is Status.SENDING else attempt
            expect = expected_when_settled(state, number)
            check(harness, resumed, decision, expect, f"{error_class.value}, {state}, attempt {number}")


def test_every_error_class_has_a_remedy() -> None:
    assert set(REMEDIES) == set(ErrorClass)


# -- each branch, by name ---------------------------------------------------------------------------------------


async def test_published_first_time() -> None:
    harness = Harness.build()
    attempt = Attempt(request(), 1)
    assert await harness.pipeline.process(attempt) == Ack()
    [(event, event_id)] = harness.sink.published
    assert isinstance(event, PublishSucceeded)
    assert (event.external_post_id, event.attempt, event.reconciled) == ("post-1", 1, False)
    assert harness.metric("herald_publish_attempts_total", outcome="published") == 1
    # Redelivered: the identical event again (id and time), nothing sent.
    harness.clock.advance(30)
    await harness.pipeline.process(attempt)
    assert harness.sink.published[1] == (event, event_id)
    assert len(harness.client.sent) == 1


async def test_an_unknown_outcome_found_by_read_back_is_a_success() -> None:
    found = PublishedPost("p-found", url="https://x.test/p-found")
    harness = Harness.build(FakeClient(creates=[failure(ErrorClass.UNKNOWN_OUTCOME)], read_back=found))
    attempt = Attempt(request(), 1)
    assert await harness.pipeline.process(attempt) == Ack()
    [(event, _)] = harness.sink.published
    assert isinstance(event, PublishSucceeded)
    assert (event.external_post_id, event.reconciled) == ("p-found", True)
    assert harness.metric("herald_reconciliations_total", result="found") == 1


async def test_an_unknown_outcome_not_found_is_retried_and_the_retry_sends_again() -> None:
    harness = Harness.build(FakeClient(creates=[failure(ErrorClass.UNKNOWN_OUTCOME)]))
    attempt = Attempt(request(), 1)
    decision = await harness.pipeline.process(attempt)
    assert isinstance(decision, Retry)
    assert decision.next_attempt == 2
    assert harness.metric("herald_reconciliations_total", result="absent") == 1
    assert harness.ledger.rows[attempt.distribution_id].ambiguous
    assert await harness.pipeline.process(attempt.numbered(2)) == Ack()
    assert len(harness.client.sent) == 2
    assert harness.client.read_backs == 2  # the retry read back once more before it sent


async def test_a_create_that_completed_after_its_timeout_is_found_by_the_retry_and_not_sent_twice() -> None:
    # The platform finished the create after our timeout (Meta fetching a photo's URL): absent when read back at
    # once, there when the retry comes. Before the retry read back first, this published the post twice.
    harness = Harness.build(FakeClient(creates=[failure(ErrorClass.UNKNOWN_OUTCOME)]))
    attempt = Attempt(request(), 1)
    assert isinstance(await harness.pipeline.process(attempt), Retry)
    harness.clock.advance(120)
    harness.client.read_back = PublishedPost("p-late", url="https://x.test/p-late")
    assert await harness.pipeline.process(attempt.numbered(2)) == Ack()
    assert len(harness.client.sent) == 1
    [(event, _)] = harness.sink.published
    assert isinstance(event, PublishSucceeded)
    assert (event.external_post_id, event.reconciled) == ("p-late", True)
    assert harness.ledger.status(attempt.distribution_id) is Status.PUBLISHED
    assert harness.metric("herald_reconciliations_total", result="found") == 1


async def test_a_retry_after_an_unknown_outcome_whose_read_back_fails_sends_nothing() -> None:
    harness = Harness.build(FakeClient(creates=[failure(ErrorClass.UNKNOWN_OUTCOME)]))
    attempt = Attempt(request(), 1)
    assert isinstance(await harness.pipeline.process(attempt), Retry)
    harness.client.read_back = failure(ErrorClass.RETRY_LATER)
    decision = await harness.pipeline.process(attempt.numbered(2))
    assert isinstance(decision, Retry)
    assert decision.announcement is not None
    assert isinstance(decision.announcement.event, PublishRetryScheduled)
    assert decision.announcement.event.error_class == "reconcile_later"
    assert len(harness.client.sent) == 1
    # The ledger says "sending": the next delivery reconciles again instead of sending.
    assert harness.ledger.status(attempt.distribution_id) is Status.SENDING


async def test_a_retry_after_an_unknown_outcome_waits_out_a_hold_before_reading_back() -> None:
    harness = Harness.build(FakeClient(creates=[failure(ErrorClass.UNKNOWN_OUTCOME)]))
    attempt = Attempt(request(), 1)
    assert isinstance(await harness.pipeline.process(attempt), Retry)
    await harness.ledger.hold(attempt.account_id, harness.clock() + dt.timedelta(seconds=60), "rate limited")
    decision = await harness.pipeline.process(attempt.numbered(2))
    assert isinstance(decision, Retry)
    assert harness.client.read_backs == 1  # only the first attempt's
    assert len(harness.client.sent) == 1


async def test_a_read_back_failing_transiently_asks_again_later_without_sending() -> None:
    throttled = failure(ErrorClass.RETRY_LATER, retry_at=START + dt.timedelta(seconds=3))
    client = FakeClient(creates=[failure(ErrorClass.UNKNOWN_OUTCOME)], read_back=throttled)
    harness = Harness.build(client)
    attempt = Attempt(request(), 1)
    decision = await harness.pipeline.process(attempt)
    assert isinstance(decision, Retry)
    assert decision.next_attempt == 2
    assert decision.plan.tier_ms == 4_000  # not before the platform's hint
    assert decision.announcement is not None
    assert isinstance(decision.announcement.event, PublishRetryScheduled)
    assert decision.announcement.event.error_class == "reconcile_later"
    assert decision.reason.startswith("read-back failed: ")
    # The ledger stays "sending": the next delivery reads back again instead of sending.
    assert harness.ledger.status(attempt.distribution_id) is Status.SENDING
    held = await harness.pipeline.process(attempt.numbered(2))
    assert isinstance(held, Retry)
    assert held.announcement is None  # still within the grace of the first call
    harness.clock.advance(GRACE.total_seconds())
    client.read_back = PublishedPost("p-1")
    assert await harness.pipeline.process(attempt.numbered(2)) == Ack()
    assert len(client.sent) == 1
    assert client.read_backs == 2


async def test_a_read_back_refused_for_heralds_own_configuration_waits_for_an_operator_even_on_the_last_attempt() -> (
    None
):
    misconfigured = failure(ErrorClass.CONFIGURATION)
    client = FakeClient(creates=[failure(ErrorClass.UNKNOWN_OUTCOME)], read_back=misconfigured)
    harness = Harness.build(client)
    attempt = Attempt(request(max_attempts=1), 1)
    decision = await harness.pipeline.process(attempt)
    assert isinstance(decision, Retry)
    assert decision.next_attempt == 1  # no attempt used, never unconfirmed while an operator can fix it
    assert decision.plan.tier_ms == TIERS_MS[-1]  # the 15-minute recheck, capped by the longest tier
    assert decision.announcement is not None
    assert isinstance(decision.announcement.event, PublishRetryScheduled)
    assert decision.announcement.event.error_class == "reconcile_later"
    assert harness.ledger.status(attempt.distribution_id) is Status.SENDING  # the next delivery reads back again
    assert harness.sink.published == []
    assert harness.metric("herald_configuration_errors_total", operation="read_back") == 1
    assert len(client.sent) == 1


async def test_a_read_back_failing_transiently_on_the_last_attempt_is_unconfirmed() -> None:
    throttled = failure(ErrorClass.RETRY_LATER)
    harness = Harness.build(FakeClient(creates=[failure(ErrorClass.UNKNOWN_OUTCOME)], read_back=throttled))
    attempt = Attempt(request(max_attempts=2), 2)
    assert await harness.pipeline.process(attempt) == Ack()
    [(event, _)] = harness.sink.published
    assert isinstance(event, PublishUnconfirmed)


async def test_an_outcome_that_cannot_be_read_back_is_unconfirmed_and_re_emitted_identically() -> None:
    first = PlatformError(ErrorClass.UNKNOWN_OUTCOME, "timed out", http_status=504)
    unreadable = failure(ErrorClass.PERMANENT)
    harness = Harness.build(FakeClient(creates=[first], read_back=unreadable))
    attempt = Attempt(request(), 1)
    assert await harness.pipeline.process(attempt) == Ack()
    [(event, event_id)] = harness.sink.published
    assert isinstance(event, PublishUnconfirmed)
    assert (event.error_class, event.http_status) == ("unknown_outcome", 504)  # the create's error, not the read's
    assert event.reason == "timed out; read-back failed: the platform said permanent"
    assert harness.ledger.status(attempt.distribution_id) is Status.UNCONFIRMED
    assert harness.metric("herald_publish_attempts_total", outcome="unconfirmed") == 1
    harness.clock.advance(60)
    assert await harness.pipeline.process(attempt.numbered(2)) == Ack()
    assert harness.sink.published[1] == (event, event_id)
    assert len(harness.client.sent) == 1


async def test_a_read_back_without_a_grant_is_unconfirmed() -> None:
    tokens = FakeTokens(get_failures=[None, ReauthRequired("account must be reconnected")])  # the read-back's fails
    harness = Harness.build(FakeClient(creates=[failure(ErrorClass.UNKNOWN_OUTCOME)]), tokens)
    assert await harness.pipeline.process(Attempt(request(), 1)) == Ack()
    [(event, _)] = harness.sink.published
    assert isinstance(event, PublishUnconfirmed)
    assert event.reason == "the platform said unknown_outcome; read-back failed: account must be reconnected"
    assert harness.client.read_backs == 0


async def test_a_token_service_outage_during_read_back_keeps_the_attempt() -> None:
    harness = Harness.build(FakeClient(creates=[failure(ErrorClass.UNKNOWN_OUTCOME)]))
    attempt = Attempt(request(), 2)
    row = Delivery(attempt.distribution_id, Status.SENDING, 2, START - GRACE)
    harness.ledger.put(row)
    harness.tokens.get_failures = [TokenUnavailable("token service answered 503", retry_after_seconds=2)]
    decision = await harness.pipeline.process(attempt)
    assert isinstance(decision, Retry)
    assert decision.next_attempt == 2  # our own dependency failed: no attempt used up
    assert decision.plan.tier_ms == 2_000
    assert harness.ledger.status(attempt.distribution_id) is Status.SENDING
    assert harness.client.sent == []


async def test_a_read_back_that_says_resending_is_safe_retries_and_the_duplicate_names_our_post() -> None:
    lost = PlatformError(ErrorClass.UNKNOWN_OUTCOME, "connection reset")
    cannot_read = PlatformError(ErrorClass.PERMANENT, "members cannot be read back", resend_is_safe=True)
    client = FakeClient(creates=[lost], read_back=cannot_read)
    harness = Harness.build(client)
    attempt = Attempt(request(), 1)
    decision = await harness.pipeline.process(attempt)
    assert isinstance(decision, Retry)
    assert decision.announcement is not None
    assert isinstance(decision.announcement.event, PublishRetryScheduled)
    assert decision.announcement.event.error_class == "unknown_outcome"
    assert harness.metric("herald_reconciliations_total", result="resend") == 1
    # The second send is refused as a duplicate naming the first post: after an unknown outcome, it is ours.
    client.creates = [failure(ErrorClass.DUPLICATE, existing_post_id="urn:li:share:1")]
    assert await harness.pipeline.process(attempt.numbered(2)) == Ack()
    [(event, _)] = harness.sink.published
    assert isinstance(event, PublishSucceeded)
    assert (event.external_post_id, event.reconciled, event.attempt) == ("urn:li:share:1", True, 2)


async def test_a_duplicate_of_fresh_content_fails_with_the_existing_post() -> None:
    harness = Harness.build(FakeClient(creates=[failure(ErrorClass.DUPLICATE, existing_post_id="p-7")]))
    assert await harness.pipeline.process(Attempt(request(), 1)) == Ack()
    [(event, _)] = harness.sink.published
    assert isinstance(event, PublishFailed)
    assert (event.reason, event.existing_post_id) == (FailureReason.DUPLICATE, "p-7")


async def test_a_refused_token_is_refreshed_then_the_post_sent_again_at_once() -> None:
    harness = Harness.build(FakeClient(creates=[failure(ErrorClass.REFRESH_TOKEN)]))
    assert await harness.pipeline.process(Attempt(request(), 1)) == Ack()
    assert [token for token, _ in harness.client.sent] == ["access-1", "access-2"]
    assert harness.tokens.refreshes == 1
    assert harness.sink.kinds == ["PublishSucceeded"]


async def test_a_fresh_token_refused_again_means_reconnect() -> None:
    refused = failure(ErrorClass.REFRESH_TOKEN)
    harness = Harness.build(FakeClient(creates=[refused, failure(ErrorClass.REFRESH_TOKEN)]))
    assert await harness.pipeline.process(Attempt(request(), 1)) == Ack()
    assert harness.tokens.reauth_reports == ["the platform said refresh_token"]
    [(event, _)] = harness.sink.published
    assert isinstance(event, PublishFailed)
    assert event.reason is FailureReason.RECONNECT_REQUIRED


@pytest.mark.parametrize(
    ("problem", "expect_retry"),
    [(ReauthRequired("refresh token rejected"), False), (TokenUnavailable("token service answered 502"), True)],
)
async def test_a_refresh_that_fails(problem: Exception, expect_retry: bool) -> None:
    harness = Harness.build(
        FakeClient(creates=[failure(ErrorClass.REFRESH_TOKEN)]), FakeTokens(refresh_failures=[problem])
    )
    attempt = Attempt(request(), 2)
    decision = await harness.pipeline.process(attempt)
    assert len(harness.client.sent) == 1
    if expect_retry:
        assert isinstance(decision, Retry)
        assert decision.next_attempt == 2
        assert decision.announcement is not None
        assert isinstance(decision.announcement.event, PublishRetryScheduled)
        assert decision.announcement.event.error_class == "token_unavailable"
        assert harness.ledger.status(attempt.distribution_id) is Status.RETRYING
    else:
        assert decision == Ack()
        [(event, _)] = harness.sink.published
        assert isinstance(event, PublishFailed)
        assert (event.reason, event.error_class) == (FailureReason.RECONNECT_REQUIRED, "reconnect")


async def test_a_token_service_outage_retries_without_using_an_attempt() -> None:
    outage = TokenUnavailable("token service unreachable: ConnectError", retry_after_seconds=3)
    harness = Harness.build(tokens=FakeTokens(get_failures=[outage]))
    attempt = Attempt(request(), 1)
    decision = await harness.pipeline.process(attempt)
    assert isinstance(decision, Retry)
    assert (decision.next_attempt, decision.plan.tier_ms) == (1, 4_000)
    assert harness.ledger.status(attempt.distribution_id) is Status.RETRYING
    assert harness.client.sent == []
    assert await harness.pipeline.process(attempt) == Ack()


async def test_an_account_needing_reconnection_fails_before_anything_is_sent() -> None:
    harness = Harness.build(tokens=FakeTokens(get_failures=[ReauthRequired("account must be reconnected")]))
    assert await harness.pipeline.process(Attempt(request(), 1)) == Ack()
    [(event, _)] = harness.sink.published
    assert isinstance(event, PublishFailed)
    assert (event.reason, event.message) == (FailureReason.RECONNECT_REQUIRED, "account must be reconnected")
    assert harness.client.sent == []


async def test_content_breaking_a_rule_fails_permanently_without_sending() -> None:
    harness = Harness.build()
    assert await harness.pipeline.process(Attempt(request(text=f"long {RULE_BREAKER}"), 1)) == Ack()
    [(event, _)] = harness.sink.published
    assert isinstance(event, PublishFailed)
    assert (event.reason, event.error_class) == (FailureReason.PERMANENT, "content_rule")
    assert harness.client.sent == []


async def test_a_rate_limit_holds_the_account_and_later_posts_wait_without_calling() -> None:
    reset = START + dt.timedelta(seconds=1.5)
    harness = Harness.build(FakeClient(creates=[failure(ErrorClass.RETRY_LATER, retry_at=reset)]))
    first = Attempt(request(), 1)
    decision = await harness.pipeline.process(first)
    assert isinstance(decision, Retry)
    assert decision.plan.tier_ms == 2_000  # not before the reset hint
    other = Attempt(request(account_id=first.account_id), 1)
    held = await harness.pipeline.process(other)
    assert isinstance(held, Retry)
    assert (held.next_attempt, held.reason, held.plan.tier_ms) == (1, "account rate limited", 2_000)
    assert held.announcement is not None
    assert isinstance(held.announcement.event, PublishRetryScheduled)
    assert held.announcement.event.reason == "account is rate limited"
    assert len(harness.client.sent) == 1
    harness.clock.advance(2)
    assert await harness.pipeline.process(other) == Ack()


async def test_a_usage_cap_holds_the_whole_app_until_it_resets_without_using_attempts() -> None:
    reset = START + dt.timedelta(days=20)  # beyond the longest tier: a usage cap, not a rate limit
    capped = PlatformError(ErrorClass.RETRY_LATER, "usage capped", http_status=429, retry_at=reset, app_wide=True)
    harness = Harness.build(FakeClient(creates=[capped]))
    first = Attempt(request(max_attempts=1), 1)
    decision = await harness.pipeline.process(first)
    assert isinstance(decision, Retry)
    assert decision.next_attempt == 1  # the only attempt is not used up
    assert decision.announcement is not None
    assert isinstance(decision.announcement.event, PublishRetryScheduled)
    assert decision.announcement.event.error_class == "usage_capped"
    other = Attempt(request(max_attempts=1), 1)  # another account: the cap binds the whole app
    held = await harness.pipeline.process(other)
    assert isinstance(held, Retry)
    assert held.next_attempt == 1
    assert len(harness.client.sent) == 1
    assert harness.metric("herald_publish_held_until_timestamp_seconds", scope="app") == reset.timestamp()
    harness.clock.advance(20 * 24 * 3600 + 1)
    assert await harness.pipeline.process(other) == Ack()


async def test_attempts_run_out_into_parking() -> None:
    harness = Harness.build(FakeClient(creates=[failure(ErrorClass.RETRY_LATER)] * 3))
    attempt = Attempt(request(max_attempts=3), 1)
    decisions = []
    for number in (1, 2, 3):
        decisions.append(await harness.pipeline.process(attempt.numbered(number)))
    assert [type(d) for d in decisions] == [Retry, Retry, Park]
    assert [d.plan.tier_ms for d in decisions if isinstance(d, Retry)] == [1_000, 2_000]
    park = decisions[-1]
    assert park == Park("3 attempts failed; last: the platform said retry_later", ParkCategory.ATTEMPTS_EXHAUSTED)
    [(event, _)] = harness.sink.published
    assert isinstance(event, PublishFailed)
    assert (event.reason, event.attempt) == (FailureReason.ATTEMPTS_EXHAUSTED, 3)
    assert harness.metric("herald_publish_failures_total", reason="attempts_exhausted") == 1


async def test_a_cancel_recorded_before_the_call_wins() -> None:
    harness = Harness.build()
    attempt = Attempt(request(), 2)
    harness.ledger.put(Delivery(attempt.distribution_id, Status.CANCELLED, 0, None, finished_at=START))
    assert await harness.pipeline.process(attempt) == Ack()
    [(event, _)] = harness.sink.published
    assert isinstance(event, PublishFailed)
    assert (event.reason, event.attempt, event.message) == (
        FailureReason.CANCELLED,
        2,
        "cancelled before it was sent",
    )
    assert harness.client.sent == []


async def test_a_replay_reopens_a_failed_distribution_once_as_a_new_generation() -> None:
    harness = Harness.build(FakeClient(creates=[failure(ErrorClass.PERMANENT)]))
    attempt = Attempt(request(), 1)
    await harness.pipeline.process(attempt)
    [(failed_event, failed_id)] = harness.sink.published
    assert await harness.pipeline.process(replace(attempt, replay="2026-12-01T10:00:00Z")) == Ack()
    assert harness.sink.kinds == ["PublishFailed", "PublishSucceeded"]
    assert len(harness.client.sent) == 2
    # The same replay delivered twice does not reopen it again.
    await harness.pipeline.process(replace(attempt, replay="2026-12-01T10:00:00Z"))
    assert len(harness.client.sent) == 2
    assert isinstance(failed_event, PublishFailed)
    assert failed_id != harness.sink.published[1][1]


async def test_retry_announcements_are_distinct_events_and_counted_per_tier() -> None:
    harness = Harness.build(FakeClient(creates=[failure(ErrorClass.RETRY_LATER)] * 2))
    attempt = Attempt(request(), 1)
    first = await harness.pipeline.process(attempt)
    second = await harness.pipeline.process(attempt.numbered(2))
    assert isinstance(first, Retry)
    assert isinstance(second, Retry)
    assert first.announcement is not None
    assert second.announcement is not None
    assert first.announcement.event_id != second.announcement.event_id
    assert harness.metric("herald_publish_retries_total", tier_ms="1000") == 1
    assert harness.metric("herald_publish_retries_total", tier_ms="2000") == 1
    assert harness.sink.published == []  # announcements are published by whoever carries the retry out
