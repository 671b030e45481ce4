"""RabbitMQ for Herald services: one broker factory and one way to publish contract events.

Every publish is persistent, confirmed by the broker, mandatory (an unroutable message raises instead of
vanishing) and bounded by a timeout (a broker under a resource alarm blocks publishers indefinitely otherwise).

:class:`EventPublisher` publishes on the broker's own confirming channel through aio-pika, not through
``RabbitBroker.publish``: FastStream's layers there (publish command, publish middlewares with their Prometheus
timing, message encoding) cost about a fifth of the CPU of a confirmed publish, and every event a service emits paid
it. So FastStream's ``faststream_published_messages*`` series do not count events (no dashboard or alert uses them;
the outbox relay counts its publishes in ``herald_outbox_published_total``); its consumer series are unchanged.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from collections.abc import Iterable
from typing import Any, cast

import aiormq
from aiormq import spec
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
PERSISTENT = 2
"""AMQP delivery mode 2: the broker writes the message to disk."""


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
    """Publishes Herald contract events as CloudEvents (binary mode), on the broker's default channel (the one
    :func:`build_broker` makes confirming and raising on returns)."""

    def __init__(self, broker: RabbitBroker, *, source: str, timeout: float) -> None:
        self._broker = broker
        self._source = source
        self._timeout = timeout
        self._app_id = broker.config.app_id
        self._exchanges: dict[str, RabbitExchange] = {}

    def envelope(self, event: Event, *, subject: str | None = None, event_id: str | None = None) -> AmqpEnvelope:
        return to_amqp(event, source=self._source, subject=subject, event_id=event_id)

    async def publish(self, event: Event, *, subject: str | None = None, event_id: str | None = None) -> str:
        """Publish one event and wait for the broker's confirm. Returns the event id."""
        envelope = self.envelope(event, subject=subject, event_id=event_id)
        await self.publish_envelope(envelope)
        return envelope.message_id

    async def publish_envelope(self, envelope: AmqpEnvelope, *, correlation_id: str | None = None) -> None:
        """Publish one envelope (persistent, mandatory) and wait for the broker's confirm.

        Raises :class:`PublishNotConfirmed` if the broker does not confirm within the timeout, nacks it, returns it
        as unroutable (the channel raises on a return) or the connection fails. The message carries what
        ``RabbitBroker.publish`` gave it: the service's ``app_id``, a timestamp, and a fresh correlation id unless
        one is given.
        """
        properties = spec.Basic.Properties(
            headers=dict(envelope.headers),
            content_type=envelope.content_type,
            delivery_mode=PERSISTENT,
            correlation_id=correlation_id or str(uuid.uuid4()),
            message_id=envelope.message_id,
            timestamp=dt.datetime.now(dt.UTC),
            message_type=envelope.type,
            app_id=self._app_id,
        )
        try:
            async with asyncio.timeout(self._timeout):
                exchange = await self._broker.declare_exchange(self._exchange(envelope.exchange))
                # The exchange's aio-pika channel is the broker's default one (confirming, raising on returns); its
                # aiormq channel is looked up per publish because a reconnection replaces it. ``wait=False``: no
                # future per publish for the frames' write to the socket, the broker's confirm is what is awaited.
                # aiormq's abstract channel does not declare ``wait``; the channel is aiormq's own.
                channel = cast(aiormq.Channel, await exchange.channel.get_underlay_channel())
                confirmation = await channel.basic_publish(
                    envelope.body,
                    exchange=envelope.exchange,
                    routing_key=envelope.routing_key,
                    properties=properties,
                    mandatory=True,
                    wait=False,
                )
        except TimeoutError as exc:
            raise PublishNotConfirmed(f"no confirm for {envelope.type} within {self._timeout}s") from exc
        except Exception as exc:
            raise PublishNotConfirmed(f"publish of {envelope.type} failed: {exc}") from exc
        if not isinstance(confirmation, spec.Basic.Ack):  # a nack raises above; None: a channel without confirms
            raise PublishNotConfirmed(f"publish of {envelope.type} was not confirmed: {confirmation!r}")

    def _exchange(self, name: str) -> RabbitExchange:
        # Passive: publishing never declares (declare_exchanges does, at start). The broker's declarer keeps the
        # aio-pika exchange per channel and forgets it when the broker disconnects, so a restarted broker gets a new
        # one; this dict only spares building (and hashing a new) RabbitExchange per publish.
        exchange = self._exchanges.get(name)
        if exchange is None:
            exchange = self._exchanges[name] = RabbitExchange(name, declare=False)
        return exchange

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
