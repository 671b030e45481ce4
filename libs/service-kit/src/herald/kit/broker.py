"""RabbitMQ for Herald services: one broker factory and one way to publish contract events.

Every publish is persistent, confirmed by the broker, mandatory (an unroutable message raises instead of
vanishing) and bounded by a timeout (a broker under a resource alarm blocks publishers indefinitely otherwise).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

from faststream.rabbit import Channel, ExchangeType, RabbitBroker, RabbitExchange
from faststream.rabbit.prometheus import RabbitPrometheusMiddleware
from prometheus_client import CollectorRegistry

from herald.contracts.base import Event
from herald.contracts.envelope import AmqpEnvelope, to_amqp
from herald.contracts.routing import DEAD_LETTER_EXCHANGE, EVENTS_EXCHANGE
from herald.kit.settings import ServiceSettings

log = logging.getLogger(__name__)

EVENTS = RabbitExchange(EVENTS_EXCHANGE, type=ExchangeType.TOPIC, durable=True)
DLX = RabbitExchange(DEAD_LETTER_EXCHANGE, type=ExchangeType.DIRECT, durable=True)
PUBLISH_WINDOW = 100


async def raw_body(message: Any) -> bytes:
    """The broker's decoder: the body as bytes, untouched.

    FastStream would JSON-decode a body labelled ``application/json`` before any handler runs; a body that is not
    JSON then fails *outside* the handler, so under manual acknowledgement it is neither acked nor parked and holds a
    prefetch slot until the channel closes. Herald's handlers read bytes and parse them with the contracts library
    (:class:`herald.kit.consumers.Intake`), which parks what it cannot read.
    """
    body: bytes = message.body
    return body


class PublishNotConfirmed(RuntimeError):
    """The broker did not confirm a publish in time (or returned it as unroutable).

    An infrastructure failure of this service, unrelated to the ``PublishFailed`` event of the contracts.
    """


def build_broker(settings: ServiceSettings, registry: CollectorRegistry) -> RabbitBroker:
    """A broker whose default channel confirms publishes and raises on unroutable messages."""
    return RabbitBroker(
        settings.amqp_url.get_secret_value(),
        graceful_timeout=settings.graceful_timeout_seconds,
        default_channel=Channel(publisher_confirms=True, on_return_raises=True),
        middlewares=[
            RabbitPrometheusMiddleware(registry=registry, app_name=settings.service_name, metrics_prefix="faststream")
        ],
        logger=logging.getLogger("faststream"),
        # FastStream logs "Received" and "Processed" for every message at this level: at DEBUG they cost nothing in
        # production (two JSON lines per event would dominate the audit service's CPU), and errors still log.
        log_level=logging.DEBUG,
        app_id=settings.service_name,
        decoder=raw_body,
    )


async def declare_exchanges(broker: RabbitBroker) -> None:
    """Declare the exchanges every service relies on (idempotent)."""
    await broker.declare_exchange(EVENTS)
    await broker.declare_exchange(DLX)


class EventPublisher:
    """Publishes Herald contract events as CloudEvents (binary mode)."""

    def __init__(self, broker: RabbitBroker, *, source: str, timeout: float) -> None:
        self._broker = broker
        self._source = source
        self._timeout = timeout

    def envelope(self, event: Event, *, subject: str | None = None, event_id: str | None = None) -> AmqpEnvelope:
        return to_amqp(event, source=self._source, subject=subject, event_id=event_id)

    async def publish(self, event: Event, *, subject: str | None = None, event_id: str | None = None) -> str:
        """Publish one event and wait for the broker's confirm. Returns the event id."""
        envelope = self.envelope(event, subject=subject, event_id=event_id)
        await self.publish_envelope(envelope)
        return envelope.message_id

    async def publish_envelope(self, envelope: AmqpEnvelope, *, correlation_id: str | None = None) -> None:
        try:
            async with asyncio.timeout(self._timeout):
                await self._broker.publish(
                    envelope.body,
                    exchange=envelope.exchange,
                    routing_key=envelope.routing_key,
                    headers=dict(envelope.headers),
                    message_id=envelope.message_id,
                    correlation_id=correlation_id,
                    content_type=envelope.content_type,
                    message_type=envelope.type,
                    persist=True,
                    mandatory=True,
                )
        except TimeoutError as exc:
            raise PublishNotConfirmed(f"no confirm for {envelope.type} within {self._timeout}s") from exc
        except Exception as exc:
            raise PublishNotConfirmed(f"publish of {envelope.type} failed: {exc}") from exc

    async def publish_many(self, envelopes: Iterable[AmqpEnvelope]) -> None:
        """Publish with confirms awaited in windows (several times faster than one at a time)."""
        batch: list[AmqpEnvelope] = []
        for envelope in envelopes:
            batch.append(envelope)
            if len(batch) >= PUBLISH_WINDOW:
                await asyncio.gather(*(self.publish_envelope(e) for e in batch))
                batch.clear()
        if batch:
            await asyncio.gather(*(self.publish_envelope(e) for e in batch))
