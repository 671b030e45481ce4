"""Broker subscribers: read the event, hand it to the tracker, acknowledge after the commit.

One quorum work queue (``HERALD_WORK_QUEUE``, default ``scheduler``) carries every publish outcome on every
platform and the account events. Replicas share it as competing consumers.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from faststream import AckPolicy
from faststream.rabbit import Channel, RabbitBroker

from herald.contracts.accounts import AccountConnected, AccountDisconnected, AccountReauthRequired
from herald.contracts.routing import PUBLISH_OUTCOME_BINDINGS, binding_key
from herald.kit.consumers import Intake, declare_work_queue, undecoded, work_queue
from herald.scheduler.settings import SchedulerSettings
from herald.scheduler.tracking import Tracker

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


def register(broker: RabbitBroker, intake: Intake, tracker: Tracker, settings: SchedulerSettings) -> None:
    @broker.subscriber(
        work_queue(settings.work_queue),
        channel=Channel(prefetch_count=settings.consumer_prefetch),
        ack_policy=AckPolicy.MANUAL,
        decoder=undecoded,
    )
    async def handle(message: Any) -> None:  # the RabbitMessage itself (see undecoded): nothing injected
        received = None
        try:
            received = await intake.read(message)
            if received is None:
                return  # parked and acknowledged by the intake
            await tracker.apply(received)
        except Exception as error:
            # Its content at fault, or its last delivery: parked once, with the reason.
            if await intake.failed(message, error, received):
                return
            # Most likely the database (or the broker, while parking) is unavailable: requeue after a pause.
            log.exception("event not applied, requeued", extra={"message_id": message.message_id})
            await asyncio.sleep(settings.consumer_retry_pause_seconds)
            await message.nack(requeue=True)
            return
        await message.ack()
