"""The audit subscriber: read the event, hand its record to the batch recorder, acknowledge after the commit."""

from __future__ import annotations

import logging

from faststream import AckPolicy
from faststream.rabbit import Channel, RabbitBroker
from faststream.rabbit.annotations import RabbitMessage

from herald.audit.recorder import BatchRecorder, Outcome, RecorderClosed
from herald.audit.records import to_record
from herald.contracts.envelope import ReceivedEvent
from herald.contracts.operations import MessageParked, ParkCategory
from herald.kit.consumers import Intake, work_queue
from herald.kit.logging import correlation_id

log = logging.getLogger(__name__)


async def _refuse(message: RabbitMessage, intake: Intake, received: ReceivedEvent, reason: str) -> None:
    event = received.event
    if isinstance(event, MessageParked):
        # Parking a park report would publish another report about it: dead-letter it quietly instead.
        log.error("audit row refused; dead-lettering the park report", extra={"reason": reason})
        await message.reject()
        return
    await intake.park(
        message,
        f"audit row refused by PostgreSQL: {reason}",
        ParkCategory.POISON,
        team_id=getattr(event, "team_id", None),
        correlation_id=event.correlation_id,
    )


def register_handlers(
    broker: RabbitBroker,
    intake: Intake,
    recorder: BatchRecorder,
    *,
    prefetch_count: int,
) -> None:
    """Subscribe to the audit queue (declared by ``declare_work_queue`` in the start hook)."""

    @broker.subscriber(
        work_queue(intake.queue),
        channel=Channel(prefetch_count=prefetch_count),
        ack_policy=AckPolicy.MANUAL,
        title=f"{intake.queue}:record",
        description="Records every Herald event in the audit log; acknowledged after the row is committed.",
    )
    async def record_event(message: RabbitMessage) -> None:
        received = await intake.read(message)  # malformed messages are parked and acknowledged by the intake
        if received is None:
            return
        correlation_id.set(received.event.correlation_id)
        try:
            result = await recorder.record(to_record(received))
        except RecorderClosed:
            return  # left unacknowledged: the broker redelivers it after the restart; the duplicate is skipped
        if result.outcome is Outcome.REJECTED:
            await _refuse(message, intake, received, result.reason)
            return
        await message.ack()
