"""The work queue consumer: publish outcomes applied a batch at a time, acknowledged after the commit.

One quorum work queue (``HERALD_WORK_QUEUE``, default ``scheduler``) carries every publish outcome on every
platform and the account events. Replicas share it as competing consumers. It is consumed with the kit's
:class:`~herald.kit.batch.BatchConsumer`: deliveries are gathered until ``outcome_batch_max_size`` have arrived or
``outcome_batch_max_wait_ms`` have passed since the first one, then :class:`WorkQueueBatches` handles the batch:

1. every delivery is read with the kit's intake checks; one that is not a valid Herald event is parked with its
   reason (``park_copy``), as the per-message intake does;
2. the outcome events are applied together in one transaction (:meth:`Tracker.apply_outcomes`); an outcome about
   no distribution of its team is parked, not recorded;
3. account events (rare) are applied one by one, each in its own transaction, as before;
4. the handler returns, and only then does the consumer acknowledge the batch with one ``basic.ack(multiple=True)``.

A crash anywhere before that acknowledgement leaves the whole batch in the queue; what was committed is recorded
in ``processed_events``, so its redelivery changes nothing, and what was not is applied then. If the batch's
transaction fails, its outcomes are applied one by one, so that an event at fault is isolated (parked, or
requeued until the queue's delivery limit parks it as poison, as before) and does not hold back the others. If
PostgreSQL itself is away, the batch is held unacknowledged and retried after a pause (no redelivery is spent on
an outage); stopping meanwhile abandons it to the broker.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from faststream.rabbit import RabbitBroker
from prometheus_client import CollectorRegistry, Counter, Histogram
from sqlalchemy.ext.asyncio import AsyncEngine

from herald.contracts.accounts import AccountConnected, AccountDisconnected, AccountReauthRequired
from herald.contracts.envelope import ReceivedEvent
from herald.contracts.operations import ParkCategory
from herald.contracts.routing import PUBLISH_OUTCOME_BINDINGS, binding_key
from herald.kit import db as kit_db
from herald.kit.amqp_consumer import ConsumerAbandoned, Delivery
from herald.kit.batch import BatchConsumer, BatchWindow, Settle
from herald.kit.broker import EventPublisher
from herald.kit.consumers import (
    Intake,
    Unreadable,
    content_fault,
    declare_work_queue,
    park_copy,
    park_reason,
)
from herald.kit.logging import redact
from herald.scheduler.settings import SchedulerSettings
from herald.scheduler.tracking import Consumed, OutcomeEvent, Tracker

log = logging.getLogger(__name__)

BINDINGS: tuple[str, ...] = (
    *PUBLISH_OUTCOME_BINDINGS,
    binding_key(AccountConnected),
    binding_key(AccountDisconnected),
    binding_key(AccountReauthRequired),
)


async def declare(broker: RabbitBroker, settings: SchedulerSettings) -> None:
    """Declare the work queue, its bindings and its parking queue (idempotent; runs before consumers start)."""
    await declare_work_queue(broker, settings.work_queue, BINDINGS)


BATCH_SIZE_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)


class _Metrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.batch_size = Histogram(
            "herald_scheduler_batch_size",
            "Deliveries per work queue batch (one transaction for its outcomes, one multiple ack).",
            buckets=BATCH_SIZE_BUCKETS,
            registry=registry,
        )
        self.outcomes = Counter(
            "herald_scheduler_outcomes_total",
            "Publish outcomes consumed, by result: applied (recorded for the first time) or duplicate.",
            ["result"],
            registry=registry,
        )
        for result in ("applied", "duplicate"):
            self.outcomes.labels(result)


class WorkQueueBatches:
    """Consumes the work queue in batches and applies each event once (see the module docstring)."""

    def __init__(
        self,
        broker: RabbitBroker,
        events: EventPublisher,
        engine: AsyncEngine,
        intake: Intake,
        tracker: Tracker,
        settings: SchedulerSettings,
        registry: CollectorRegistry,
    ) -> None:
        self._metrics = _Metrics(registry)
        self._broker = broker
        self._events = events
        self._engine = engine
        self._intake = intake
        self._tracker = tracker
        self._pause = settings.consumer_retry_pause_seconds
        self.queue = settings.work_queue
        self._stop = asyncio.Event()
        self._outage = False
        self.consumer = BatchConsumer(
            settings.amqp_url.get_secret_value(),
            settings.work_queue,
            prefetch=settings.consumer_prefetch,
            window=BatchWindow(
                max_size=settings.outcome_batch_max_size, max_wait=settings.outcome_batch_max_wait_ms / 1000
            ),
            handle=self.handle,
        )

    async def ready(self) -> bool:
        """Readiness: consuming, and not holding a batch while PostgreSQL is away."""
        return await self.consumer.ready() and not self._outage

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` (a runtime background loop)."""
        self._stop = stop
        await self.consumer.run(stop)

    async def handle(self, batch: Sequence[Delivery]) -> Mapping[int, Settle]:
        """Read, apply and decide the settlement of one batch (acknowledged by the consumer afterwards)."""
        self._metrics.batch_size.observe(len(batch))
        verdicts: dict[int, Settle] = {}
        outcomes: list[tuple[int, Consumed, ReceivedEvent]] = []
        others: list[tuple[int, ReceivedEvent]] = []
        for index, message in enumerate(batch):
            received = message.read()
            if isinstance(received, Unreadable):
                verdicts[index] = await self._park(
                    message, received.reason, received.category, team_id=received.team_id
                )
            elif isinstance(received.event, OutcomeEvent):
                attributes = received.attributes
                outcomes.append((index, Consumed(attributes.id, attributes.type, received.event), received))
            else:
                others.append((index, received))
        verdicts |= await self._apply(batch, outcomes, others)
        while self._outage:
            # PostgreSQL is away: hold what is left (no redelivery spent on an outage) and try it again.
            log.warning("database unavailable; holding %d messages unacknowledged", len(batch))
            await self._wait(holding=True)
            left = {i for i, verdict in verdicts.items() if verdict is Settle.REQUEUE}
            outcomes = [o for o in outcomes if o[0] in left]
            others = [o for o in others if o[0] in left]
            for index in [o[0] for o in outcomes] + [o[0] for o in others]:
                verdicts[index] = Settle.ACK  # unless this attempt decides otherwise
            verdicts |= await self._apply(batch, outcomes, others)
        if Settle.REQUEUE in verdicts.values():
            await self._wait(holding=False)  # as before: a delivery that failed unexpectedly is requeued after a pause
        return verdicts

    async def _apply(
        self,
        batch: Sequence[Delivery],
        outcomes: Sequence[tuple[int, Consumed, ReceivedEvent]],
        others: Sequence[tuple[int, ReceivedEvent]],
    ) -> dict[int, Settle]:
        verdicts: dict[int, Settle] = {}
        failed = False
        if outcomes:
            try:
                applied = await self._tracker.apply_outcomes([consumed for _, consumed, _ in outcomes])
            except Exception as error:
                if content_fault(error) is None and not await self._database_reachable():
                    self._outage = True  # no use trying them one by one
                    return dict.fromkeys([i for i, *_ in outcomes] + [i for i, _ in others], Settle.REQUEUE)
                log.warning(
                    "outcome batch failed; applying its %d outcomes one by one",
                    len(outcomes),
                    extra={"error": redact(repr(error))[:500]},
                )
                for index, _, received in outcomes:
                    verdicts[index] = await self._one(batch[index], received)
                failed = True
            else:
                self._metrics.outcomes.labels("applied").inc(applied.applied)
                self._metrics.outcomes.labels("duplicate").inc(applied.duplicates)
                for position, reason in (applied.unknown or {}).items():
                    index, _, received = outcomes[position]
                    event = received.event
                    verdicts[index] = await self._park(
                        batch[index],
                        reason,
                        ParkCategory.MALFORMED,
                        team_id=getattr(event, "team_id", None),
                        correlation_id=event.correlation_id,
                    )
        for index, received in others:
            verdicts[index] = await self._one(batch[index], received)
        self._outage = False
        if (failed or others) and Settle.REQUEUE in verdicts.values():
            self._outage = not await self._database_reachable()
        return verdicts

    async def _one(self, message: Delivery, received: ReceivedEvent) -> Settle:
        """Apply one event in its own transaction, as the per-message consumer did: parked if its content is at
        fault or this is its last delivery, requeued otherwise."""
        try:
            await self._tracker.apply(received)
        except Exception as error:
            verdict = park_reason(error, message.headers, self._intake.delivery_limit)
            if verdict is None:
                log.exception("event not applied, requeued", extra={"message_id": message.message_id})
                return Settle.REQUEUE
            event = received.event
            return await self._park(
                message,
                verdict[0],
                verdict[1],
                team_id=getattr(event, "team_id", None),
                correlation_id=event.correlation_id,
            )
        return Settle.ACK

    async def _database_reachable(self) -> bool:
        try:
            async with asyncio.timeout(5):
                return await kit_db.ping(self._engine)
        except Exception:
            return False

    async def _wait(self, *, holding: bool) -> None:
        """Pause; while ``holding`` a batch through an outage, stopping abandons it to the broker."""
        if holding and self._stop.is_set():
            raise ConsumerAbandoned("stopping before the batch could be committed")
        try:
            async with asyncio.timeout(self._pause):
                await self._stop.wait()
        except TimeoutError:
            pass
        if holding and self._stop.is_set():
            raise ConsumerAbandoned("stopping before the batch could be committed")

    async def _park(
        self,
        message: Delivery,
        reason: str,
        category: ParkCategory,
        *,
        team_id: Any = None,
        correlation_id: str | None = None,
    ) -> Settle:
        try:
            await park_copy(
                self._broker,
                self._events,
                self._intake.parked,
                self.queue,
                message,
                reason,
                category,
                team_id=team_id,
                correlation_id=correlation_id,
            )
        except Exception as error:  # the broker would not take the copy or the report: try again later
            log.warning("could not park a message; requeued", extra={"error": redact(repr(error))[:500]})
            return Settle.REQUEUE
        return Settle.ACK
