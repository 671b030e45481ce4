"""The one publishing pipeline shared by every platform. It knows no platform: the adapter is a PlatformKit.

For each ``PublishRequested`` delivery (attempt ``n``) it decides, and tells the handler what to do with the
message (:class:`Decision`): acknowledge it, send it to a retry tier, or park it. Outcome events are published
(with confirms) *before* the decision is returned, so the message is acknowledged only after its outcome is recorded
in the ledger and on the broker. Outcome event ids are derived from the distribution (and attempt), so re-emitting an
outcome after a crash produces the same event id and downstream consumers deduplicate it.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import TypedDict

from herald.contracts.base import Event, service_actor
from herald.contracts.operations import ParkCategory
from herald.contracts.platform import Platform
from herald.contracts.publishing import (
    FailureReason,
    PublishFailed,
    PublishRequested,
    PublishRetryScheduled,
    PublishSucceeded,
    PublishUnconfirmed,
)
from herald.kit.broker import EventPublisher
from herald.platforms.base import (
    Account,
    ContentRuleViolation,
    Draft,
    ErrorClass,
    PlatformError,
    PlatformKit,
    PreparedPost,
    PublishedPost,
)
from herald.publishing.ledger import Delivery, Failure, Ledger, Status
from herald.publishing.metrics import PublisherMetrics
from herald.publishing.retry import (
    RetryPlan,
    app_hold_id,
    beyond_tiers,
    plan_hold,
    plan_operator_recheck,
    plan_retry,
)
from herald.publishing.tokens import AccessToken, ReauthRequired, TokenClient, TokenUnavailable

log = logging.getLogger(__name__)
EVENT_NAMESPACE = uuid.UUID("8a4c9a52-58a5-4d8b-9f0e-8f3a5b1c7e21")
RECONCILE_LOOKBACK = dt.timedelta(seconds=60)


class Action(StrEnum):
    ACK = "ack"
    RETRY = "retry"
    PARK = "park"


@dataclass(frozen=True)
class Decision:
    action: Action
    plan: RetryPlan | None = None
    next_attempt: int | None = None
    reason: str = ""
    category: ParkCategory | None = None

    @classmethod
    def ack(cls) -> Decision:
        return cls(Action.ACK)


class _OutcomeFields(TypedDict):
    team_id: uuid.UUID
    correlation_id: str
    actor: str
    occurred_at: dt.datetime
    distribution_id: uuid.UUID
    content_id: uuid.UUID
    platform: Platform
    account_id: uuid.UUID
    attempt: int


def event_id(distribution_id: uuid.UUID, kind: str, generation: str = "") -> str:
    """The id of a distribution's outcome event: the same every time it is (re-)emitted in one generation."""
    return str(uuid.uuid5(EVENT_NAMESPACE, f"{distribution_id}:{kind}:{generation}"))


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class PublishPipeline:
    def __init__(
        self,
        *,
        kit: PlatformKit,
        ledger: Ledger,
        tokens: TokenClient,
        events: EventPublisher,
        metrics: PublisherMetrics,
        tiers_ms: tuple[int, ...],
        in_flight_grace: dt.timedelta,
        service_name: str,
    ) -> None:
        self.kit = kit
        self.platform = kit.platform
        self._ledger = ledger
        self._tokens = tokens
        self._events = events
        self._metrics = metrics
        self._tiers = tiers_ms
        self._grace = in_flight_grace
        self._actor = service_actor(service_name)

    async def process(self, request: PublishRequested, attempt: int, *, replay: str | None = None) -> Decision:
        """Handle one delivery of ``request`` (attempt ``attempt``, 1-based; ``replay``: an operator's replay)."""
        before, claimed = await self._ledger.claim(
            request.distribution_id, request.team_id, request.account_id, attempt, replay=replay
        )
        if claimed.status is not Status.SENDING or (before is not None and before.status is Status.SENDING):
            return await self._resume(request, attempt, claimed)
        return await self._send(request, attempt, started_at=claimed.started_at or _now())

    async def _resume(self, request: PublishRequested, attempt: int, found: Delivery) -> Decision:
        """The ledger already knows this distribution: never send blindly."""
        if found.status is Status.PUBLISHED:
            await self._emit_success(request, found, reconciled=False)
            return Decision.ack()
        if found.status is Status.CANCELLED:
            cancelled = Failure(FailureReason.CANCELLED.value, "cancelled before it was sent")
            await self._emit_failed(request, replace(found, attempt=max(attempt, 1), failure=cancelled))
            return Decision.ack()
        if found.status is Status.FAILED:
            await self._emit_failed(request, found)  # the same event again: a crash may have lost it
            return Decision.ack()
        if found.status is Status.UNCONFIRMED:
            await self._emit_unconfirmed(request, found)
            return Decision.ack()
        # SENDING: a process died mid-call, or another consumer is calling right now.
        started = found.started_at or _now()
        if _now() - started < self._grace:
            plan = plan_hold(self._tiers, _now(), started + self._grace)
            return Decision(Action.RETRY, plan=plan, next_attempt=attempt, reason="another delivery is in flight")
        return await self._reconcile(request, max(found.attempt, attempt), started, cause="found in flight")

    async def _send(self, request: PublishRequested, attempt: int, started_at: dt.datetime) -> Decision:
        held = await self._held_until(request.account_id)
        if held is not None:
            held_until, scope = held
            await self._ledger.mark(request.distribution_id, Status.RETRYING)
            plan = plan_hold(self._tiers, _now(), held_until)
            if beyond_tiers(self._tiers, _now(), held_until):  # a usage cap: waits out the period, no attempt used
                self._metrics.held_until.labels(self.platform.value, scope).set(held_until.timestamp())
                reason = f"held until {held_until.isoformat()} (usage cap)"
                await self._emit_retry(request, attempt, plan, "usage_capped", reason, None)
                return Decision(Action.RETRY, plan=plan, next_attempt=attempt, reason=reason)
            await self._emit_retry(request, attempt, plan, "retry_later", "account is rate limited", None)
            return Decision(Action.RETRY, plan=plan, next_attempt=attempt, reason="account rate limited")
        try:
            post = self.kit.rules.prepare(Draft(request.text, request.link, request.over_length))
        except ContentRuleViolation as violation:
            return await self._fail(request, attempt, FailureReason.PERMANENT, violation.message, "content_rule")
        try:
            token = await self._tokens.get(request.account_id)
        except ReauthRequired as exc:
            return await self._fail(request, attempt, FailureReason.RECONNECT_REQUIRED, str(exc), "reconnect")
        except TokenUnavailable as exc:
            return await self._retry_without_send(request, attempt, str(exc), exc.retry_after_seconds)
        return await self._call(request, attempt, post, token, started_at, refreshed=False)

    async def _call(
        self,
        request: PublishRequested,
        attempt: int,
        post: PreparedPost,
        token: AccessToken,
        started_at: dt.datetime,
        *,
        refreshed: bool,
    ) -> Decision:
        account = Account(token.platform_account_id)
        began = time.perf_counter()
        try:
            published = await self.kit.client.publish(account, token.access_token, post)
        except PlatformError as error:
            self._observe_call("create", began)
            return await self._on_error(request, attempt, post, token, started_at, error, refreshed=refreshed)
        self._observe_call("create", began)
        return await self._succeed(request, attempt, published, reconciled=False)

    async def _on_error(
        self,
        request: PublishRequested,
        attempt: int,
        post: PreparedPost,
        token: AccessToken,
        started_at: dt.datetime,
        error: PlatformError,
        *,
        refreshed: bool,
    ) -> Decision:
        match error.error_class:
            case ErrorClass.REFRESH_TOKEN if not refreshed:
                try:
                    fresh = await self._tokens.refresh(token)
                except ReauthRequired as exc:
                    return await self._fail(request, attempt, FailureReason.RECONNECT_REQUIRED, str(exc), "reconnect")
                except TokenUnavailable as exc:
                    await self._ledger.mark(request.distribution_id, Status.RETRYING)
                    return await self._retry_without_send(request, attempt, str(exc), exc.retry_after_seconds)
                return await self._call(request, attempt, post, fresh, started_at, refreshed=True)
            case ErrorClass.REFRESH_TOKEN | ErrorClass.RECONNECT:
                await self._tokens.report_reauth_required(token, error.message)
                return await self._fail(request, attempt, FailureReason.RECONNECT_REQUIRED, error.message, error)
            case ErrorClass.PERMANENT:
                return await self._fail(request, attempt, FailureReason.PERMANENT, error.message, error)
            case ErrorClass.DUPLICATE:
                return await self._on_duplicate(request, attempt, error)
            case ErrorClass.CONFIGURATION:
                return await self._hold_for_operator(request, attempt, error)
            case ErrorClass.RETRY_LATER:
                if error.retry_at is not None:
                    held = app_hold_id(self.platform.value) if error.app_wide else request.account_id
                    await self._ledger.hold(held, error.retry_at, error.message)
                await self._ledger.mark(request.distribution_id, Status.RETRYING)
                if beyond_tiers(self._tiers, _now(), error.retry_at):
                    return await self._hold_for_cap(request, attempt, error)
                return await self._retry(request, attempt, error)
            case _:  # UNKNOWN_OUTCOME: the post may exist
                return await self._reconcile(request, attempt, started_at, cause=error.message, first_error=error)

    async def _on_duplicate(self, request: PublishRequested, attempt: int, error: PlatformError) -> Decision:
        """Fresh content: the user posted it already (permanent). After an unknown outcome: it is *our* post."""
        delivery = await self._ledger.get(request.distribution_id)
        if error.existing_post_id and delivery is not None and delivery.ambiguous:
            self._metrics.reconciliations.labels(self.platform.value, "found").inc()
            return await self._succeed(request, attempt, PublishedPost(error.existing_post_id), reconciled=True)
        return await self._fail(request, attempt, FailureReason.DUPLICATE, error.message, error)

    async def _reconcile(
        self,
        request: PublishRequested,
        attempt: int,
        started_at: dt.datetime,
        *,
        cause: str,
        first_error: PlatformError | None = None,
    ) -> Decision:
        """Read back before anything is re-sent: found → success; absent → retry; unknown → a human decides."""
        await self._ledger.mark_ambiguous(request.distribution_id)
        post = self.kit.rules.prepare(Draft(request.text, request.link, request.over_length))
        began = time.perf_counter()
        try:
            token = await self._tokens.get(request.account_id)
            found = await self.kit.client.find_published(
                Account(token.platform_account_id), token.access_token, post, started_at - RECONCILE_LOOKBACK
            )
        except PlatformError as exc:
            self._observe_call("read_back", began)
            if exc.resend_is_safe:  # the platform itself will refuse a second copy, naming the first
                self._metrics.reconciliations.labels(self.platform.value, "resend").inc()
                await self._ledger.mark(request.distribution_id, Status.RETRYING)
                return await self._retry(request, attempt, first_error or exc)
            if exc.error_class is ErrorClass.CONFIGURATION:  # an operator must act; the post stays ambiguous
                self._report_configuration_error(exc, "read_back")
                plan = plan_operator_recheck(self._tiers, _now())
                return await self._reconcile_later(request, attempt, attempt, plan, exc.message)
            if exc.error_class is ErrorClass.RETRY_LATER and attempt < request.max_attempts:
                plan = plan_retry(
                    attempt=attempt,
                    base_delay_seconds=request.base_delay_seconds,
                    tiers_ms=self._tiers,
                    now=_now(),
                    not_before=exc.retry_at,
                )
                return await self._reconcile_later(request, attempt, attempt + 1, plan, exc.message)
            return await self._unconfirmed(request, attempt, cause, exc, first_error)
        except TokenUnavailable as exc:  # our own dependency: no attempt is used up
            self._observe_call("read_back", began)
            until = _now() + dt.timedelta(seconds=exc.retry_after_seconds or 0)
            return await self._reconcile_later(
                request, attempt, attempt, plan_hold(self._tiers, _now(), until), str(exc)
            )
        except ReauthRequired as exc:
            self._observe_call("read_back", began)
            return await self._unconfirmed(request, attempt, cause, exc, first_error)
        self._observe_call("read_back", began)
        if found is not None:
            self._metrics.reconciliations.labels(self.platform.value, "found").inc()
            return await self._succeed(request, attempt, found, reconciled=True)
        self._metrics.reconciliations.labels(self.platform.value, "absent").inc()
        await self._ledger.mark(request.distribution_id, Status.RETRYING)
        error = first_error or PlatformError(ErrorClass.UNKNOWN_OUTCOME, cause)
        return await self._retry(request, attempt, error)

    async def _reconcile_later(
        self, request: PublishRequested, attempt: int, next_attempt: int, plan: RetryPlan, reason: str
    ) -> Decision:
        """The read-back itself failed transiently: ask again later. The ledger stays ``sending``, so the next
        delivery reconciles again instead of sending."""
        self._metrics.reconciliations.labels(self.platform.value, "later").inc()
        await self._emit_retry(request, attempt, plan, "reconcile_later", f"read-back failed: {reason}", None)
        return Decision(Action.RETRY, plan=plan, next_attempt=next_attempt, reason=f"read-back failed: {reason}")

    async def _unconfirmed(
        self,
        request: PublishRequested,
        attempt: int,
        cause: str,
        exc: Exception,
        first_error: PlatformError | None,
    ) -> Decision:
        """The outcome cannot be determined: a human decides (never a blind re-post)."""
        self._metrics.reconciliations.labels(self.platform.value, "undetermined").inc()
        known = first_error or (exc if isinstance(exc, PlatformError) else None)
        unconfirmed = Failure(
            reason="unconfirmed",
            message=f"{cause}; read-back failed: {exc}"[:500],
            error_class=known.error_class.value if known else None,
            http_status=known.http_status if known else None,
        )
        recorded = await self._ledger.mark(request.distribution_id, Status.UNCONFIRMED, failure=unconfirmed)
        await self._emit_unconfirmed(request, recorded)
        self._metrics.attempts.labels(self.platform.value, "unconfirmed").inc()
        return Decision.ack()

    async def _succeed(
        self, request: PublishRequested, attempt: int, published: PublishedPost, *, reconciled: bool
    ) -> Decision:
        recorded = await self._ledger.mark(
            request.distribution_id, Status.PUBLISHED, post_id=published.post_id, post_url=published.url
        )
        await self._emit_success(request, recorded, reconciled=reconciled)
        self._metrics.attempts.labels(self.platform.value, "published").inc()
        lateness = (_now() - request.scheduled_at).total_seconds()
        self._metrics.lateness.labels(self.platform.value).observe(max(lateness, 0.0))
        return Decision.ack()

    async def _retry(self, request: PublishRequested, attempt: int, error: PlatformError) -> Decision:
        if attempt >= request.max_attempts:
            reason = f"{request.max_attempts} attempts failed; last: {error.message}"
            await self._fail(request, attempt, FailureReason.ATTEMPTS_EXHAUSTED, reason, error)
            return Decision(Action.PARK, reason=reason[:500], category=ParkCategory.ATTEMPTS_EXHAUSTED)
        plan = plan_retry(
            attempt=attempt,
            base_delay_seconds=request.base_delay_seconds,
            tiers_ms=self._tiers,
            now=_now(),
            not_before=error.retry_at,
        )
        await self._emit_retry(request, attempt, plan, error.error_class.value, error.message, error.http_status)
        self._metrics.attempts.labels(self.platform.value, "retry").inc()
        return Decision(Action.RETRY, plan=plan, next_attempt=attempt + 1, reason=error.message)

    # -- holds: waits that use up no attempt (docs/platforms.md, "Usage caps: holds beyond the longest retry tier"
    # and "Operator errors"; runbook: docs/operations.md, HeraldPlatformUsageCapped, HeraldPlatformConfigurationError)

    async def _held_until(self, account_id: uuid.UUID) -> tuple[dt.datetime, str] | None:
        """The later of the account's own hold and the whole app's (a product-wide usage cap), with its scope."""
        holds = [
            (await self._ledger.hold_until(account_id), "account"),
            (await self._ledger.hold_until(app_hold_id(self.platform.value)), "app"),
        ]
        known = [(until, scope) for until, scope in holds if until is not None]
        return max(known) if known else None

    async def _hold_for_cap(self, request: PublishRequested, attempt: int, error: PlatformError) -> Decision:
        """The platform resets later than the longest tier (a usage cap): hold the account (or the app) until then.

        Deliveries wait through the longest tier, and each finds the hold and waits again without calling the
        platform or using up an attempt; ``herald_publish_held_until_timestamp_seconds`` raises the alert.
        """
        assert error.retry_at is not None
        scope = "app" if error.app_wide else "account"
        self._metrics.held_until.labels(self.platform.value, scope).set(error.retry_at.timestamp())
        log.warning(
            "platform usage cap: holding until it resets",
            extra={"platform": self.platform.value, "scope": scope, "until": error.retry_at.isoformat()},
        )
        plan = plan_hold(self._tiers, _now(), error.retry_at)
        reason = f"held until {error.retry_at.isoformat()} (usage cap): {error.message}"
        await self._emit_retry(request, attempt, plan, "usage_capped", reason, error.http_status)
        return Decision(Action.RETRY, plan=plan, next_attempt=attempt, reason=reason[:500])

    async def _hold_for_operator(self, request: PublishRequested, attempt: int, error: PlatformError) -> Decision:
        """Herald's own configuration is wrong: neither the post nor the account is at fault. The post is held (no
        attempt used) and tried again every :data:`~herald.publishing.retry.OPERATOR_RECHECK` until it is fixed."""
        self._report_configuration_error(error, "create")
        await self._ledger.mark(request.distribution_id, Status.RETRYING)
        plan = plan_operator_recheck(self._tiers, _now())
        await self._emit_retry(request, attempt, plan, ErrorClass.CONFIGURATION.value, error.message, error.http_status)
        return Decision(Action.RETRY, plan=plan, next_attempt=attempt, reason=error.message)

    def _report_configuration_error(self, error: PlatformError, operation: str) -> None:
        self._metrics.configuration_errors.labels(self.platform.value, operation).inc()
        log.error(
            "platform refused Herald's configuration; an operator must fix it",
            extra={"platform": self.platform.value, "code": error.platform_code, "error": error.message},
        )

    async def _retry_without_send(
        self, request: PublishRequested, attempt: int, reason: str, retry_after_seconds: float | None
    ) -> Decision:
        """Our own dependency (the token service) failed: nothing was sent, so no attempt is used up."""
        await self._ledger.mark(request.distribution_id, Status.RETRYING)
        until = _now() + dt.timedelta(seconds=retry_after_seconds or 0)
        plan = plan_hold(self._tiers, _now(), until)
        await self._emit_retry(request, attempt, plan, "token_unavailable", reason, None)
        return Decision(Action.RETRY, plan=plan, next_attempt=attempt, reason=reason)

    async def _fail(
        self,
        request: PublishRequested,
        attempt: int,
        reason: FailureReason,
        message: str,
        error: PlatformError | str,
    ) -> Decision:
        platform_error = error if isinstance(error, PlatformError) else None
        failure = Failure(
            reason=reason.value,
            message=message[:500],
            error_class=platform_error.error_class.value if platform_error else str(error),
            http_status=platform_error.http_status if platform_error else None,
            response_excerpt=platform_error.response_excerpt if platform_error else "",
            existing_post_id=platform_error.existing_post_id if platform_error else None,
        )
        await self._emit_failed(
            request, await self._ledger.mark(request.distribution_id, Status.FAILED, failure=failure)
        )
        self._metrics.attempts.labels(self.platform.value, "failed").inc()
        self._metrics.failures.labels(self.platform.value, reason.value).inc()
        return Decision.ack()

    # -- events ---------------------------------------------------------------------------------------------------

    def _base(self, request: PublishRequested, attempt: int, occurred_at: dt.datetime | None = None) -> _OutcomeFields:
        return {
            "team_id": request.team_id,
            "correlation_id": request.correlation_id,
            "actor": self._actor,
            "occurred_at": occurred_at or _now(),
            "distribution_id": request.distribution_id,
            "content_id": request.content_id,
            "platform": request.platform,
            "account_id": request.account_id,
            "attempt": attempt,
        }

    async def _emit_success(self, request: PublishRequested, delivery: Delivery, *, reconciled: bool) -> None:
        """``PublishSucceeded`` from the ledger's record: a re-emission is the same event (id and time)."""
        event = PublishSucceeded(
            **self._base(request, max(delivery.attempt, 1), delivery.finished_at),
            external_post_id=delivery.post_id or "",
            url=delivery.post_url,
            title=request.title,
            published_at=delivery.finished_at or _now(),
            scheduled_at=request.scheduled_at,
            reconciled=reconciled,
        )
        await self._publish(event, event_id(request.distribution_id, "succeeded"))

    async def _emit_failed(self, request: PublishRequested, delivery: Delivery) -> None:
        """``PublishFailed`` from the ledger's record, so a re-emission is the identical event."""
        failure = delivery.failure or Failure(FailureReason.PERMANENT.value, "failed")
        event = PublishFailed(
            **self._base(request, max(delivery.attempt, 1), delivery.finished_at),
            reason=FailureReason(failure.reason),
            error_class=failure.error_class,
            message=failure.message,
            http_status=failure.http_status,
            response_excerpt=failure.response_excerpt,
            existing_post_id=failure.existing_post_id,
        )
        await self._publish(event, event_id(request.distribution_id, "failed", delivery.generation))

    async def _emit_unconfirmed(self, request: PublishRequested, delivery: Delivery) -> None:
        failure = delivery.failure or Failure("unconfirmed", "outcome unknown")
        event = PublishUnconfirmed(
            **self._base(request, max(delivery.attempt, 1), delivery.finished_at),
            reason=failure.message,
            error_class=failure.error_class,
            http_status=failure.http_status,
        )
        await self._publish(event, event_id(request.distribution_id, "unconfirmed", delivery.generation))

    async def _emit_retry(
        self,
        request: PublishRequested,
        attempt: int,
        plan: RetryPlan,
        error_class: str,
        reason: str,
        http_status: int | None,
    ) -> None:
        self._metrics.retries.labels(self.platform.value, str(plan.tier_ms)).inc()
        event = PublishRetryScheduled(
            **self._base(request, attempt),
            next_attempt_at=plan.next_attempt_at,
            delay_seconds=plan.delay_seconds,
            error_class=error_class,
            reason=reason[:500] or error_class,
            http_status=http_status,
        )
        await self._publish(event, str(uuid.uuid4()))

    async def _publish(self, event: Event, eid: str) -> None:
        await self._events.publish(event, event_id=eid)

    def _observe_call(self, operation: str, began: float) -> None:
        self._metrics.call_duration.labels(self.platform.value, operation).observe(time.perf_counter() - began)
