"""The work queues' handler: read each delivery, hand it to the pipeline, carry out its decision on the message.

Deliveries come from :class:`herald.kit.amqp_consumer.ConcurrentConsumer`, each in its own task, up to the prefetch
window at once. The work queue's handler moves each request with media to the media queue (``media_lane``), whose
own handler publishes it (see :mod:`herald.publishing.topology`). :meth:`PublisherHandler._carry_out` is the one
place a :data:`~herald.publishing.decisions.Decision` is carried out. Acknowledgements go out in runs
(:class:`herald.kit.acks.AckRuns`), each only after its delivery's outcome is durable.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from faststream.rabbit import RabbitBroker

from herald.contracts.distribution import DistributionCancelled
from herald.contracts.operations import ParkCategory
from herald.contracts.publishing import PublishRequested, PublishRequestedV1
from herald.kit.acks import AckRuns
from herald.kit.amqp_consumer import Delivery
from herald.kit.consumers import ATTEMPT_HEADER, REPLAYED_AT_HEADER, RETRY_REASON_HEADER, Intake
from herald.kit.logging import correlation_id
from herald.publishing.attempt import Attempt
from herald.publishing.decisions import Ack, Decision, Park, Retry
from herald.publishing.ledger import Ledger
from herald.publishing.metrics import PublisherMetrics
from herald.publishing.ports import OutcomeSink
from herald.publishing.service import PublishPipeline
from herald.publishing.topology import PublisherTopology

log = logging.getLogger(__name__)
REQUEUE_PAUSE_SECONDS = 1.0


class PublisherHandler:
    def __init__(
        self,
        *,
        broker: RabbitBroker,
        intake: Intake,
        pipeline: PublishPipeline,
        ledger: Ledger,
        outcomes: OutcomeSink,
        topology: PublisherTopology,
        metrics: PublisherMetrics,
        publish_timeout: float,
        media_lane: str | None = None,
    ) -> None:
        """``media_lane``: the queue requests with media are moved to; ``None`` on that queue's own handler."""
        self._broker = broker
        self._intake = intake
        self._pipeline = pipeline
        self._ledger = ledger
        self._outcomes = outcomes
        self._topology = topology
        self._metrics = metrics
        self._timeout = publish_timeout
        self._media_lane = media_lane
        self._acks = AckRuns()

    async def __call__(self, message: Delivery) -> None:
        try:
            if await self._handle(message):
                await self._acks.ack(message)  # in a run with the deliveries finishing alongside (herald.kit.acks)
                return
        except Exception as error:
            # Its content at fault (e.g. a value PostgreSQL refuses), or its last delivery: parked once, with the
            # reason, by the intake (which counts it). Else our own dependency failed (database, broker): put it
            # back after a pause.
            if not await self._intake.failed(message, error):
                log.exception("publishing failed; requeueing", extra={"message_id": message.message_id})
                await asyncio.sleep(REQUEUE_PAUSE_SECONDS)
                await message.requeue()
        self._acks.settled(message)  # parked or requeued on its own

    async def _handle(self, message: Delivery) -> bool:
        """Handle one delivery; ``True`` if it is to be acknowledged, ``False`` if it was settled already."""
        received = await self._intake.read(message)
        if received is None:
            return False  # parked, counted and acknowledged by the intake
        event = received.event
        if isinstance(event, PublishRequestedV1):
            # A v1 request (from a scheduler not yet upgraded, or a retry copy sent before the upgrade) means exactly
            # a v2 request on the default surface without media.
            event = event.upgrade()
        token = correlation_id.set(getattr(event, "correlation_id", None))
        try:
            if isinstance(event, DistributionCancelled) and event.platform is self._topology.platform:
                await self._ledger.cancel(event.distribution_id, event.team_id, event.account_id)
                return True
            if isinstance(event, PublishRequested) and event.platform is self._topology.platform:
                if event.media and self._media_lane is not None:
                    await self._move(message, self._media_lane)  # confirmed before the original is acknowledged
                    return True
                replay = message.headers.get(REPLAYED_AT_HEADER)
                attempt = Attempt(event, _attempt(message.headers), replay if isinstance(replay, str) else None)
                decision = await self._pipeline.process(attempt)
                return await self._carry_out(message, decision, event)
            await self._intake.park(
                message,
                f"{received.attributes.type} does not belong on {self._topology.work_queue}",
                ParkCategory.UNKNOWN_TYPE,
                team_id=getattr(event, "team_id", None),
            )
            return False
        finally:
            correlation_id.reset(token)

    async def _carry_out(self, message: Delivery, decision: Decision, request: PublishRequested) -> bool:
        """Carry out ``decision``; ``True`` if the message is to be acknowledged, ``False`` if it was parked."""
        match decision:
            case Ack():
                return True
            case Retry(plan=plan, next_attempt=next_attempt, reason=reason, announcement=announcement):
                if announcement is not None:
                    await self._outcomes.publish(announcement.event, event_id=announcement.event_id)
                retry = {ATTEMPT_HEADER: next_attempt, RETRY_REASON_HEADER: reason[:200]}
                await self._move(message, self._topology.tier_queue(plan.tier_ms), retry)
                return True
            case Park(reason=reason, category=category):
                await self._intake.park(
                    message, reason, category, team_id=request.team_id, correlation_id=request.correlation_id
                )
                return False

    async def _move(self, message: Delivery, queue: str, headers: dict[str, Any] | None = None) -> None:
        """Publish a copy of ``message`` to ``queue`` (with ``headers`` added) and wait for the broker's confirm; the
        caller then acknowledges the original. The broker's own ``x-`` headers (delivery count, deaths) stay behind:
        each queue counts its own deliveries."""
        kept = {k: v for k, v in message.headers.items() if not k.startswith("x-")}
        await self._broker.publish(
            message.body,
            exchange="",
            routing_key=queue,
            headers=kept | (headers or {}),
            message_id=message.message_id,
            correlation_id=message.correlation_id,
            content_type=message.content_type,
            persist=True,
            mandatory=True,
            timeout=self._timeout,
        )


def _attempt(headers: dict[str, Any]) -> int:
    value = headers.get(ATTEMPT_HEADER, 1)
    try:
        return max(int(value), 1)
    except (TypeError, ValueError):
        return 1
