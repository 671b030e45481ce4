"""The RabbitMQ topology of one platform publisher, declared from this one definition.

::

    herald.events --publish.requested.v2.<p>, distribution.cancelled.v1.<p>--> publisher.<p>   (quorum work queue)
                  (and publish.requested.v1.<p> while a v1 producer may still run; read as v2 without media)
        dead-letters (at least once, delivery limit) --herald.dlx--> publisher.<p>.dead    (quorum parking queue)
    publisher.<p>.media        (quorum work queue of the posts with media; no binding)
        dead-letters --herald.dlx--> publisher.<p>.media.dead
    publisher.<p>.retry.<ms>   (quorum, x-message-ttl=<ms>, no consumer)
        dead-letters on expiry --default exchange--> publisher.<p>

A retry republishes the message (with a confirm) to the tier queue, then acks the original; when the TTL expires the
broker moves it straight back to the work queue, not through ``herald.events``, so no other consumer sees it twice.

A request with media is moved the same way from the work queue to the media queue, which has a consumer and a
prefetch window of its own: an upload holds its slot for seconds or minutes (a video's processing wait), and on a
window shared with text posts, as many long uploads as slots would stop every text post behind them.
"""

from __future__ import annotations

from dataclasses import dataclass

from faststream.rabbit import RabbitBroker, RabbitQueue
from faststream.rabbit.schemas import QueueType

from herald.contracts.distribution import DistributionCancelled
from herald.contracts.platform import Platform
from herald.contracts.routing import (
    binding_key,
    dead_letter_routing_key,
    legacy_publish_requested_binding,
    publish_requested_binding,
)
from herald.kit.consumers import declare_work_queue


@dataclass(frozen=True)
class PublisherTopology:
    platform: Platform
    tiers_ms: tuple[int, ...]
    delivery_limit: int = 10

    @property
    def work_queue(self) -> str:
        return f"publisher.{self.platform.value}"

    @property
    def parking_queue(self) -> str:
        return dead_letter_routing_key(self.work_queue)

    @property
    def media_queue(self) -> str:
        """Where the work queue's consumer moves the requests with media (the module docstring)."""
        return f"{self.work_queue}.media"

    def tier_queue(self, tier_ms: int) -> str:
        return f"{self.work_queue}.retry.{tier_ms}"

    @property
    def bindings(self) -> tuple[str, ...]:
        return (
            publish_requested_binding(self.platform),
            legacy_publish_requested_binding(self.platform),
            binding_key(DistributionCancelled, self.platform),
        )

    async def declare(self, broker: RabbitBroker) -> None:
        await declare_work_queue(broker, self.work_queue, self.bindings, delivery_limit=self.delivery_limit)
        await declare_work_queue(broker, self.media_queue, (), delivery_limit=self.delivery_limit)
        for tier in self.tiers_ms:
            await broker.declare_queue(
                RabbitQueue(
                    self.tier_queue(tier),
                    queue_type=QueueType.QUORUM,
                    arguments={
                        "x-message-ttl": tier,
                        "x-dead-letter-exchange": "",
                        "x-dead-letter-routing-key": self.work_queue,
                        "x-dead-letter-strategy": "at-least-once",
                        "x-overflow": "reject-publish",
                    },
                )
            )
