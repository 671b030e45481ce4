"""The one publishing pipeline shared by every platform. It knows no platform: the adapter is a client and rules.

For each delivery of a ``PublishRequested`` (an :class:`~herald.publishing.attempt.Attempt`) it decides, and tells
the handler what to do with the message (a :data:`~herald.publishing.decisions.Decision`): acknowledge it, send it
to a retry tier, or park it. Final outcome events are published (with confirms) *before* the decision is returned,
so the message is acknowledged only after its outcome is recorded in the ledger and on the broker.

What the pipeline needs from outside comes through the Protocols of :mod:`herald.publishing.ports`; what it does
about a failed create is chosen by the error's class in one table, :data:`REMEDIES`.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from functools import partial
from types import MappingProxyType

from herald.contracts.operations import ParkCategory
from herald.contracts.publishing import FailureReason
from herald.kit.clock import Clock, utc_now
from herald.platforms.base import (
    Account,
    ContentRules,
    ContentRuleViolation,
    Draft,
    ErrorClass,
    MediaContext,
    MediaSource,
    PlatformClient,
    PlatformError,
    PreparedPost,
    PublishedPost,
)
from herald.publishing.attempt import Attempt
from herald.publishing.decisions import ACK, Decision, Park, Retry
from herald.publishing.lease import RENEWALS_PER_GRACE, KeptAlive
from herald.publishing.ledger import Delivery, Failure, Status
from herald.publishing.media import media_context
from herald.publishing.metrics import PublisherMetrics
from herald.publishing.outcomes import Outcome, Outcomes, RetryCause
from herald.publishing.ports import DeliveryLedger, OutcomeSink, TokenSource
from herald.publishing.retry import (
    RetryPlan,
    app_hold_id,
    beyond_tiers,
    plan_hold,
    plan_operator_recheck,
    plan_retry,
)
from herald.publishing.tokens import AccessToken, ReauthRequired, TokenUnavailable

log = logging.getLogger(__name__)
RECONCILE_LOOKBACK = dt.timedelta(seconds=60)


class Remedy(StrEnum):
    """What the pipeline does about a create the platform refused or left unanswered."""

    REFRESH = "refresh"
    """Force a token refresh and send again at once (once; a second refusal means reconnect)."""
    RECONNECT = "reconnect"
    """Fail: a human must reconnect the account (and the token service is told)."""
    FAIL = "fail"
    """Fail for good: the same request cannot succeed."""
    DUPLICATE = "duplicate"
    """Fail as a duplicate, unless an earlier unknown outcome makes the named post ours (then: success)."""
    RETRY = "retry"
    """The create certainly did not happen: hold the account until the reset hint, retry through a tier."""
    RECONCILE = "reconcile"
    """The post may exist: read back before anything is sent again."""
    OPERATOR = "operator"
    """Herald's own configuration is wrong: hold the post (no attempt used) and alert until an operator fixes it."""


REMEDIES: Mapping[ErrorClass, Remedy] = MappingProxyType(
    {
        ErrorClass.REFRESH_TOKEN: Remedy.REFRESH,
        ErrorClass.RECONNECT: Remedy.RECONNECT,
        ErrorClass.PERMANENT: Remedy.FAIL,
        ErrorClass.DUPLICATE: Remedy.DUPLICATE,
        ErrorClass.RETRY_LATER: Remedy.RETRY,
        ErrorClass.UNKNOWN_OUTCOME: Remedy.RECONCILE,
        ErrorClass.CONFIGURATION: Remedy.OPERATOR,
    }
)
"""Error class -> remedy. A class missing here is treated as an unknown outcome (reconcile): never a blind re-send."""


@dataclass(frozen=True)
class _Send:
    """A create about to be made (or just refused): the attempt, what is sent, with which token, since when."""

    attempt: Attempt
    post: PreparedPost
    token: AccessToken
    started_at: dt.datetime
    refreshed: bool = False


class PublishPipeline:
    def __init__(
        self,
        *,
        client: PlatformClient,
        rules: ContentRules,
        ledger: DeliveryLedger,
        tokens: TokenSource,
        outcomes: OutcomeSink,
        metrics: PublisherMetrics,
        tiers_ms: tuple[int, ...],
        in_flight_grace: dt.timedelta,
        service_name: str,
        clock: Clock = utc_now,
        media_source: MediaSource | None = None,
    ) -> None:
        self.platform = client.platform
        self._app_hold = app_hold_id(client.platform.value)
        self._client = client
        self._rules = rules
        self._ledger = ledger
        self._tokens = tokens
        self._sink = outcomes
        self._events = Outcomes(service_name, clock)
        self._metrics = metrics
        # The series every published post touches, bound once (a labels() lookup takes a lock and hashes its labels).
        self._published = metrics.attempts.labels(self.platform.value, "published")
        self._lateness = metrics.lateness.labels(self.platform.value)
        self._call_durations = {
            op: metrics.call_duration.labels(self.platform.value, op) for op in ("create", "read_back")
        }
        self._tiers = tiers_ms
        self._grace = in_flight_grace
        self._clock = clock
        self._media_source = media_source

    async def process(self, attempt: Attempt) -> Decision:
        """Handle one delivery: claim the distribution in the ledger, then send, or resume what is recorded."""
        request = attempt.request
        before, claimed = await self._ledger.claim(
            request.distribution_id,
            request.team_id,
            request.account_id,
            attempt.number,
            replay=attempt.replay,
            holds=(request.account_id, self._app_hold),
        )
        if claimed.status is Status.SENDING and (before is None or before.status is not Status.SENDING):
            async with self._in_flight(attempt, claimed.started_at):
                if before is not None and before.ambiguous and self._held_until(attempt, claimed) is None:
                    # An earlier attempt's outcome was unknown and the read-back right after it found nothing. A
                    # create can complete after our timeout (Meta fetching a photo's URL, for one), so the post may
                    # exist by now: read back again, from that attempt's start, and send only if it is still absent.
                    # (While the account is held, _send waits out the hold first, reading nothing.)
                    started = before.started_at or claimed.started_at or self._clock()
                    cause = "an earlier attempt's outcome was unknown"
                    return await self._reconcile(attempt, started, cause, then=claimed)
                return await self._send(attempt, claimed)
        return await self._resume(attempt, claimed)

    async def _resume(self, attempt: Attempt, found: Delivery) -> Decision:
        """The ledger already knows this distribution: never send blindly."""
        request = attempt.request
        match found.status:
            case Status.PUBLISHED:
                await self._emit(self._events.succeeded(request, found, reconciled=False))
                return ACK
            case Status.CANCELLED:
                cancelled = Failure(FailureReason.CANCELLED.value, "cancelled before it was sent")
                await self._emit(
                    self._events.failed(request, replace(found, attempt=max(attempt.number, 1), failure=cancelled))
                )
                return ACK
            case Status.FAILED:
                await self._emit(self._events.failed(request, found))  # the same event again: a crash may have lost it
                return ACK
            case Status.UNCONFIRMED:
                await self._emit(self._events.unconfirmed(request, found))
                return ACK
        # SENDING: another delivery is at work on it (it renews alive_at, lease.py), or its process died mid-call.
        started = found.started_at or self._clock()
        alive = found.alive_at or started
        if self._clock() - alive < self._grace:
            plan = plan_hold(self._tiers, self._clock(), alive + self._grace)
            return Retry(plan, attempt.number, "another delivery is in flight")
        async with self._in_flight(attempt, found.started_at):  # this delivery now works on the abandoned row
            resumed = attempt.numbered(max(found.attempt, attempt.number))
            return await self._reconcile(resumed, started, "found in flight")

    async def _send(self, attempt: Attempt, claimed: Delivery) -> Decision:
        started_at = claimed.started_at or self._clock()
        held = self._held_until(attempt, claimed)
        if held is not None:
            held_until, scope = held
            await self._ledger.mark_retrying(attempt.distribution_id)
            plan = plan_hold(self._tiers, self._clock(), held_until)
            if beyond_tiers(self._tiers, self._clock(), held_until):  # a usage cap: wait out the period, no attempt
                self._metrics.held_until.labels(self.platform.value, scope).set(held_until.timestamp())
                reason = f"held until {held_until.isoformat()} (usage cap)"
                return Retry(
                    plan, attempt.number, reason, self._announce(attempt, plan, RetryCause("usage_capped", reason))
                )
            cause = RetryCause("retry_later", "account is rate limited")
            return Retry(plan, attempt.number, "account rate limited", self._announce(attempt, plan, cause))
        try:
            post = self._prepare(attempt)
        except ContentRuleViolation as violation:
            return await self._fail(attempt, FailureReason.PERMANENT, violation.message, "content_rule")
        try:
            token = await self._tokens.get(attempt.account_id)
        except ReauthRequired as exc:
            return await self._fail(attempt, FailureReason.RECONNECT_REQUIRED, str(exc), "reconnect")
        except TokenUnavailable as exc:
            return await self._retry_without_send(attempt, str(exc), exc.retry_after_seconds)
        return await self._call(_Send(attempt, post, token, started_at))

    async def _call(self, send: _Send) -> Decision:
        began = time.perf_counter()
        try:
            published = await self._client.publish(
                self._account(send.attempt, send.token),
                send.token.access_token,
                send.post,
                self._media(send.attempt, send.post),
            )
        except PlatformError as error:
            self._observe_call("create", began)
            return await self._on_error(send, error)
        self._observe_call("create", began)
        return await self._succeed(send.attempt, published, reconciled=False)

    async def _on_error(self, send: _Send, error: PlatformError) -> Decision:
        attempt = send.attempt
        remedy = REMEDIES.get(error.error_class, Remedy.RECONCILE)
        if remedy is Remedy.REFRESH and send.refreshed:
            remedy = Remedy.RECONNECT  # refused again with a fresh token: the grant itself is gone
        match remedy:
            case Remedy.REFRESH:
                return await self._refresh_and_send(send)
            case Remedy.RECONNECT:
                await self._tokens.report_reauth_required(send.token, error.message)
                return await self._fail(attempt, FailureReason.RECONNECT_REQUIRED, error.message, error)
            case Remedy.FAIL:
                return await self._fail(attempt, FailureReason.PERMANENT, error.message, error)
            case Remedy.DUPLICATE:
                return await self._on_duplicate(attempt, error)
            case Remedy.OPERATOR:
                return await self._hold_for_operator(attempt, error)
            case Remedy.RETRY:
                if error.retry_at is not None:
                    held = self._app_hold if error.app_wide else attempt.account_id
                    await self._ledger.hold(held, error.retry_at, error.message)
                await self._ledger.mark_retrying(attempt.distribution_id)
                if beyond_tiers(self._tiers, self._clock(), error.retry_at):
                    return self._hold_for_cap(attempt, error)
                return await self._retry(attempt, error)
            case _:  # Remedy.RECONCILE: the post may exist
                return await self._reconcile(attempt, send.started_at, error.message, first_error=error)

    async def _refresh_and_send(self, send: _Send) -> Decision:
        try:
            fresh = await self._tokens.refresh(send.token)
        except ReauthRequired as exc:
            return await self._fail(send.attempt, FailureReason.RECONNECT_REQUIRED, str(exc), "reconnect")
        except TokenUnavailable as exc:
            return await self._retry_without_send(send.attempt, str(exc), exc.retry_after_seconds)
        return await self._call(replace(send, token=fresh, refreshed=True))

    async def _on_duplicate(self, attempt: Attempt, error: PlatformError) -> Decision:
        """Fresh content: the user posted it already (permanent). After an unknown outcome: it is *our* post."""
        delivery = await self._ledger.get(attempt.distribution_id)
        if error.existing_post_id and delivery is not None and delivery.ambiguous:
            self._metrics.reconciliations.labels(self.platform.value, "found").inc()
            return await self._succeed(attempt, PublishedPost(error.existing_post_id), reconciled=True)
        return await self._fail(attempt, FailureReason.DUPLICATE, error.message, error)

    async def _reconcile(
        self,
        attempt: Attempt,
        started_at: dt.datetime,
        cause: str,
        *,
        first_error: PlatformError | None = None,
        then: Delivery | None = None,
    ) -> Decision:
        """Read back before anything is re-sent: found → success; absent → retry; unknown → a human decides.

        ``then``: this delivery has claimed the distribution to send it (an earlier attempt was ambiguous), so where
        the read-back says a send is safe (absent, or a platform that refuses a second copy), it sends at once.
        """
        if then is None:
            await self._ledger.mark_ambiguous(attempt.distribution_id)
        post = self._prepare(attempt)
        began = time.perf_counter()
        try:
            token = await self._tokens.get(attempt.account_id)
            found = await self._client.find_published(
                self._account(attempt, token), token.access_token, post, started_at - RECONCILE_LOOKBACK
            )
        except PlatformError as exc:
            self._observe_call("read_back", began)
            if exc.resend_is_safe:  # the platform itself will refuse a second copy, naming the first
                self._metrics.reconciliations.labels(self.platform.value, "resend").inc()
                if then is not None:
                    return await self._send(attempt, then)
                await self._ledger.mark_retrying(attempt.distribution_id)
                return await self._retry(attempt, first_error or exc)
            if exc.error_class is ErrorClass.CONFIGURATION:  # an operator must act; the post stays ambiguous
                self._report_configuration_error(exc, "read_back")
                plan = plan_operator_recheck(self._tiers, self._clock())
                return self._reconcile_later(attempt, attempt.number, plan, exc.message)
            if exc.error_class is ErrorClass.RETRY_LATER and not attempt.is_last:
                plan = self._backoff(attempt, exc.retry_at)
                return self._reconcile_later(attempt, attempt.number + 1, plan, exc.message)
            return await self._unconfirmed(attempt, cause, exc, first_error)
        except TokenUnavailable as exc:  # our own dependency: no attempt is used up
            self._observe_call("read_back", began)
            return self._reconcile_later(attempt, attempt.number, self._hold_for(exc.retry_after_seconds), str(exc))
        except ReauthRequired as exc:
            self._observe_call("read_back", began)
            return await self._unconfirmed(attempt, cause, exc, first_error)
        self._observe_call("read_back", began)
        if found is not None:
            self._metrics.reconciliations.labels(self.platform.value, "found").inc()
            return await self._succeed(attempt, found, reconciled=True)
        self._metrics.reconciliations.labels(self.platform.value, "absent").inc()
        if then is not None:
            return await self._send(attempt, then)
        await self._ledger.mark_retrying(attempt.distribution_id)
        return await self._retry(attempt, first_error or PlatformError(ErrorClass.UNKNOWN_OUTCOME, cause))

    def _reconcile_later(self, attempt: Attempt, next_attempt: int, plan: RetryPlan, reason: str) -> Retry:
        """The read-back itself failed transiently: ask again later. The ledger stays ``sending``, so the next
        delivery reconciles again instead of sending."""
        self._metrics.reconciliations.labels(self.platform.value, "later").inc()
        why = f"read-back failed: {reason}"
        return Retry(plan, next_attempt, why, self._announce(attempt, plan, RetryCause("reconcile_later", why)))

    async def _unconfirmed(
        self, attempt: Attempt, cause: str, exc: Exception, first_error: PlatformError | None
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
        recorded = await self._ledger.mark_unconfirmed(attempt.distribution_id, unconfirmed)
        self._metrics.attempts.labels(self.platform.value, "unconfirmed").inc()  # counted before the event (_succeed)
        await self._emit(self._events.unconfirmed(attempt.request, recorded))
        return ACK

    async def _succeed(self, attempt: Attempt, published: PublishedPost, *, reconciled: bool) -> Decision:
        recorded = await self._ledger.mark_published(attempt.distribution_id, published)
        # Counted once the ledger holds it, before the event goes out: the post is published even if the broker
        # refuses the event now (it is re-emitted on redelivery), and whoever sees the event sees it counted.
        self._published.inc()
        lateness = (self._clock() - attempt.request.scheduled_at).total_seconds()
        self._lateness.observe(max(lateness, 0.0))
        await self._emit(self._events.succeeded(attempt.request, recorded, reconciled=reconciled))
        return ACK

    async def _retry(self, attempt: Attempt, error: PlatformError) -> Decision:
        """The attempt failed and nothing was published: try again through a tier, or park when none is left."""
        if attempt.is_last:
            reason = f"{attempt.request.max_attempts} attempts failed; last: {error.message}"
            await self._fail(attempt, FailureReason.ATTEMPTS_EXHAUSTED, reason, error)
            return Park(reason[:500], ParkCategory.ATTEMPTS_EXHAUSTED)
        plan = self._backoff(attempt, error.retry_at)
        cause = RetryCause(error.error_class.value, error.message, error.http_status)
        announcement = self._announce(attempt, plan, cause)
        self._metrics.attempts.labels(self.platform.value, "retry").inc()
        return Retry(plan, attempt.number + 1, error.message, announcement)

    # -- holds: waits that use up no attempt (docs/operations.md, "Usage caps" and "Operator errors") -------------

    def _held_until(self, attempt: Attempt, claimed: Delivery) -> tuple[dt.datetime, str] | None:
        """The later of the account's own hold and the whole app's (a product-wide usage cap), with its scope: the
        claim read both (``holds=``), so this asks the ledger nothing."""
        if claimed.held is None:
            return None
        until, key = claimed.held
        return until, ("account" if key == attempt.account_id else "app")

    def _hold_for_cap(self, attempt: Attempt, error: PlatformError) -> Retry:
        """The platform resets later than the longest tier (a usage cap): the account (or app) is held until then.

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
        plan = plan_hold(self._tiers, self._clock(), error.retry_at)
        reason = f"held until {error.retry_at.isoformat()} (usage cap): {error.message}"[:500]
        cause = RetryCause("usage_capped", reason, error.http_status)
        return Retry(plan, attempt.number, reason, self._announce(attempt, plan, cause))

    async def _hold_for_operator(self, attempt: Attempt, error: PlatformError) -> Retry:
        """Herald's own configuration is wrong: neither the post nor the account is at fault. The post is held (no
        attempt used) and tried again every :data:`~herald.publishing.retry.OPERATOR_RECHECK` until it is fixed."""
        self._report_configuration_error(error, "create")
        await self._ledger.mark_retrying(attempt.distribution_id)
        plan = plan_operator_recheck(self._tiers, self._clock())
        cause = RetryCause(ErrorClass.CONFIGURATION.value, error.message, error.http_status)
        return Retry(plan, attempt.number, error.message, self._announce(attempt, plan, cause))

    def _report_configuration_error(self, error: PlatformError, operation: str) -> None:
        self._metrics.configuration_errors.labels(self.platform.value, operation).inc()
        log.error(
            "platform refused Herald's configuration; an operator must fix it",
            extra={"platform": self.platform.value, "code": error.platform_code, "error": error.message},
        )

    async def _retry_without_send(self, attempt: Attempt, reason: str, retry_after_seconds: float | None) -> Decision:
        """Our own dependency (the token service) failed: nothing was sent, so no attempt is used up."""
        await self._ledger.mark_retrying(attempt.distribution_id)
        plan = self._hold_for(retry_after_seconds)
        return Retry(
            plan, attempt.number, reason, self._announce(attempt, plan, RetryCause("token_unavailable", reason))
        )

    async def _fail(
        self, attempt: Attempt, reason: FailureReason, message: str, error: PlatformError | str
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
        recorded = await self._ledger.mark_failed(attempt.distribution_id, failure)
        self._metrics.attempts.labels(self.platform.value, "failed").inc()  # counted before the event (_succeed)
        self._metrics.failures.labels(self.platform.value, reason.value).inc()
        await self._emit(self._events.failed(attempt.request, recorded))
        return ACK

    # -- small helpers ------------------------------------------------------------------------------------------

    def _prepare(self, attempt: Attempt) -> PreparedPost:
        request = attempt.request
        draft = Draft(request.text, request.link, request.over_length, tuple(request.media), request.surface)
        return self._rules.prepare(draft)

    def _account(self, attempt: Attempt, token: AccessToken) -> Account:
        return Account(token.platform_account_id, surface=attempt.request.surface)

    def _media(self, attempt: Attempt, post: PreparedPost) -> MediaContext | None:
        """Where the post's media bytes are and what this distribution already uploaded (``None`` without media)."""
        if not post.media:
            return None
        ledger = self._ledger
        return media_context(self._media_source, ledger, attempt.distribution_id, self._metrics, self.platform)

    def _in_flight(self, attempt: Attempt, started_at: dt.datetime | None) -> KeptAlive:
        """While this delivery works on the distribution ``sending`` since ``started_at``, its ledger row shows a
        sign of life every third of the grace (lease.py)."""
        renew = partial(self._ledger.keep_alive, attempt.distribution_id, started_at or self._clock())
        return KeptAlive(renew, self._grace.total_seconds() / RENEWALS_PER_GRACE)

    def _backoff(self, attempt: Attempt, not_before: dt.datetime | None) -> RetryPlan:
        return plan_retry(
            attempt=attempt.number,
            base_delay_seconds=attempt.request.base_delay_seconds,
            tiers_ms=self._tiers,
            now=self._clock(),
            not_before=not_before,
        )

    def _hold_for(self, seconds: float | None) -> RetryPlan:
        now = self._clock()
        return plan_hold(self._tiers, now, now + dt.timedelta(seconds=seconds or 0))

    def _announce(self, attempt: Attempt, plan: RetryPlan, cause: RetryCause) -> Outcome:
        self._metrics.retries.labels(self.platform.value, str(plan.tier_ms)).inc()
        return self._events.retry_scheduled(attempt.request, attempt.number, plan, cause)

    async def _emit(self, outcome: Outcome) -> None:
        await self._sink.publish(outcome.event, event_id=outcome.event_id)

    def _observe_call(self, operation: str, began: float) -> None:
        self._call_durations[operation].observe(time.perf_counter() - began)
