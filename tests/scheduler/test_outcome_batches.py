"""Outcomes applied a batch at a time, on the real broker and database: what a batch commits is applied once, what
it does not commit is redelivered and applied, and an event at fault is isolated from the rest of its batch.

These tests run their own :class:`WorkQueueBatches` on a private work queue (no bindings: events are sent to it
directly, so the package's scheduler never sees them), against the package scheduler's database. Faults are
injected into the tracker (the platforms' publishers are what tests fake, never PostgreSQL or RabbitMQ).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import aio_pika
import httpx
import pytest
from faststream.rabbit import RabbitBroker
from prometheus_client import CollectorRegistry
from pydantic import SecretStr
from sqlalchemy import text

from herald.contracts.base import Event, service_actor
from herald.contracts.envelope import ReceivedEvent
from herald.contracts.platform import Platform
from herald.contracts.publishing import PublishRequested, PublishRetryScheduled, PublishSucceeded
from herald.contracts.routing import binding_key
from herald.kit import db as kit_db
from herald.kit.broker import EventPublisher, build_broker, declare_exchanges
from herald.kit.consumers import PARKED_CATEGORY_HEADER, PARKED_REASON_HEADER, Intake, declare_work_queue
from herald.kit.settings import ServiceSettings
from herald.scheduler import repository as repo
from herald.scheduler.handlers import WorkQueueBatches
from herald.scheduler.tracking import BatchApplied, Consumed, Tracker
from tests.scheduler.support import Instance, Team, delete_work_queues, now, settings_for, watching
from tests.support.eventually import eventually
from tests.support.proxy import TcpProxy
from tests.support.queues import ready

T0 = dt.datetime(2030, 1, 1, 12, 0, tzinfo=dt.UTC)
DELIVERY_LIMIT = 3


class Crash(BaseException):
    """The process is killed here: nothing after this point runs (no handler catches it, no ack is sent)."""


@dataclass
class Harness:
    """A private work queue, a broker connection to feed it, and what the tracker committed, batch by batch."""

    amqp_url: str
    database_url: str
    scheduler: Instance
    rabbit: RabbitBroker
    events: EventPublisher
    queue: str
    committed: list[set[str]] = field(default_factory=list)
    """The event ids each committed batch transaction recorded for the first time."""
    results: list[BatchApplied] = field(default_factory=list)

    async def send(self, *events: Event, event_ids: Sequence[str | None] = ()) -> list[str]:
        """Put events on the private queue (default exchange), as the broker routes them to the real one."""
        ids = list(event_ids) or [None] * len(events)
        sent = []
        for event, event_id in zip(events, ids, strict=True):
            envelope = self.events.envelope(event, event_id=event_id)
            await self.events.publish_envelope(dataclasses.replace(envelope, exchange="", routing_key=self.queue))
            sent.append(envelope.message_id)
        return sent

    def consumer(self, tracker: Tracker, cls: type[WorkQueueBatches] = WorkQueueBatches, **overrides: Any) -> Any:
        settings = settings_for(
            self.database_url,
            self.amqp_url,
            work_queue=self.queue,
            **({"outcome_batch_max_size": 3, "consumer_prefetch": 3, "outcome_batch_max_wait_ms": 300} | overrides),
        )
        intake = Intake(self.rabbit, self.events, self.queue, delivery_limit=DELIVERY_LIMIT)
        return cls(self.rabbit, self.events, self.scheduler.engine, intake, tracker, settings, CollectorRegistry())

    def tracker(self, cls: type[Tracker] = Tracker) -> Any:
        return cls(self.scheduler.engine, self.events.envelope, retention=dt.timedelta(hours=1), interval_seconds=3600)

    async def queue_depth(self, name: str | None = None) -> int:
        return await ready(self.amqp_url, name or self.queue)

    async def parked(self) -> list[aio_pika.abc.AbstractIncomingMessage]:
        connection = await aio_pika.connect_robust(self.amqp_url)
        found = []
        try:
            channel = await connection.channel()
            parking = await channel.declare_queue(f"{self.queue}.dead", passive=True)
            while (message := await parking.get(fail=False, no_ack=True)) is not None:
                found.append(message)
        finally:
            await connection.close()
        return found

    async def rows(self, sql: str, **parameters: Any) -> list[Any]:
        async with self.scheduler.engine.connect() as conn:
            return list(await conn.execute(text(sql), parameters))


@pytest.fixture
async def harness(
    amqp_url: str, database_url: str, scheduler: Instance, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Harness]:
    rabbit = build_broker(ServiceSettings(amqp_url=SecretStr(amqp_url), service_name="tests"), CollectorRegistry())
    await rabbit.connect()
    await declare_exchanges(rabbit)
    queue = f"scheduler-tests.batches-{uuid.uuid4().hex[:8]}"
    await declare_work_queue(rabbit, queue, (), delivery_limit=DELIVERY_LIMIT)
    events = EventPublisher(rabbit, source="/herald/publisher-x", timeout=5)
    h = Harness(amqp_url, database_url, scheduler, rabbit, events, queue)

    original_apply = Tracker.apply_outcomes
    original_first_times = repo.first_times_set
    fresh: list[set[str]] = []

    async def first_times(db: Any, consumed: Sequence[tuple[str, str]]) -> set[str]:
        found = await original_first_times(db, consumed)
        fresh.append(found)
        return found

    async def apply_outcomes(self: Tracker, batch: Sequence[Consumed]) -> BatchApplied:
        fresh.clear()
        result = await original_apply(self, batch)  # returned: its transaction committed
        h.committed.append(set().union(*fresh))
        h.results.append(result)
        return result

    monkeypatch.setattr(repo, "first_times_set", first_times)
    monkeypatch.setattr(Tracker, "apply_outcomes", apply_outcomes)
    yield h
    await rabbit.stop()
    await delete_work_queues(amqp_url, queue)


async def queued_requests(
    client: httpx.AsyncClient, amqp_url: str, team: Team, content: dict[str, Any], account: uuid.UUID, count: int
) -> list[PublishRequested]:
    """``count`` distributions handed to the X publisher (queued), and the requests the publisher received."""
    async with watching(amqp_url, binding_key(PublishRequested, Platform.X)) as watch:
        ids = []
        for _ in range(count):
            response = await client.post(
                "/v1/distributions",
                json={
                    "content_id": content["content_id"],
                    "platform": "x",
                    "account_id": str(account),
                    "publish_at": now().isoformat(),
                },
                headers=team.headers,
            )
            assert response.status_code == 201, response.text
            ids.append(uuid.UUID(response.json()["distribution_id"]))
        requests = []
        for distribution_id in ids:
            [request] = await watch.wait_for(PublishRequested, distribution_id=distribution_id)
            requests.append(request)
    return requests


def _common(request: PublishRequested, attempt: int, at: dt.datetime) -> dict[str, Any]:
    return {
        "team_id": request.team_id,
        "correlation_id": request.correlation_id,
        "actor": service_actor("publisher-x"),
        "occurred_at": at,
        "distribution_id": request.distribution_id,
        "content_id": request.content_id,
        "platform": request.platform,
        "account_id": request.account_id,
        "attempt": attempt,
    }


def succeeded(request: PublishRequested, attempt: int = 1, at: dt.datetime = T0) -> PublishSucceeded:
    return PublishSucceeded(
        **_common(request, attempt, at),
        external_post_id=f"post-{request.distribution_id.hex[:8]}-{attempt}",
        url=f"https://x.example/status/{request.distribution_id.hex[:8]}",
        title=request.title,
        published_at=at,
        scheduled_at=request.scheduled_at,
    )


def retry(request: PublishRequested, attempt: int, at: dt.datetime) -> PublishRetryScheduled:
    return PublishRetryScheduled(
        **_common(request, attempt, at),
        next_attempt_at=at + dt.timedelta(minutes=5),
        delay_seconds=300,
        error_class="retry_later",
        reason="429 Too Many Requests",
        http_status=429,
    )


async def run_until(consumer: WorkQueueBatches, done: Callable[[], Any], *, within: float = 30) -> None:
    """Run ``consumer`` until ``done()`` holds, then stop it gracefully."""
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    try:
        await eventually(done, within=within, interval=0.05)
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)


async def crashes(consumer: WorkQueueBatches) -> None:
    """Run ``consumer`` until it is killed by a :class:`Crash` (its connection closes: the broker requeues what it
    had not acknowledged)."""
    with pytest.raises(Crash):
        await asyncio.wait_for(consumer.run(asyncio.Event()), 30)


async def test_a_batch_that_fails_part_way_redelivers_only_what_was_not_committed(
    harness: Harness,
    client: httpx.AsyncClient,
    amqp_url: str,
    team: Team,
    content: dict[str, Any],
    x_account: uuid.UUID,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    requests = await queued_requests(client, amqp_url, team, content, x_account, 6)
    sent = await harness.send(*(succeeded(r) for r in requests))

    # Consumer 1 commits batch N, then dies before acknowledging it.
    class DiesBeforeTheAck(WorkQueueBatches):
        async def handle(self, batch: Any) -> Any:
            await super().handle(batch)
            raise Crash

    await crashes(harness.consumer(harness.tracker(), DiesBeforeTheAck))
    [batch_n] = harness.committed
    assert len(batch_n) == 3

    # Consumer 2 gets batch N again (deduplicated: nothing applied twice), then dies inside batch N+1's
    # transaction, after its statements ran and before the commit.
    original_record = repo.record_outcomes_set

    async def dies_before_the_commit(db: Any, rows: Any, changes: Any) -> None:
        await original_record(db, rows, changes)
        if rows:  # the first batch with something new to record
            raise Crash

    monkeypatch.setattr(repo, "record_outcomes_set", dies_before_the_commit)
    await crashes(harness.consumer(harness.tracker()))
    assert harness.committed[1:] == [set()], "the redelivered batch N must be recognised as already applied"
    assert harness.results[1].duplicates == 3
    uncommitted = await harness.rows("SELECT event_id FROM processed_events WHERE event_id = ANY(:ids)", ids=sent)
    assert len(uncommitted) == 3, "batch N+1 was rolled back: only batch N is recorded"

    # Consumer 3 (a restarted process) applies what was not committed, and only that.
    monkeypatch.setattr(repo, "record_outcomes_set", original_record)

    async def all_recorded() -> bool:
        return len(set().union(*harness.committed)) == 6

    await run_until(harness.consumer(harness.tracker()), all_recorded)

    fresh = [ids for ids in harness.committed if ids]
    assert sum(len(ids) for ids in fresh) == 6, "every outcome applied exactly once"
    assert set().union(*fresh) == set(sent)
    assert len(fresh[1]) == 3
    assert not fresh[1] & batch_n
    attempts = await harness.rows("SELECT event_id, applied FROM attempts WHERE event_id = ANY(:ids)", ids=sent)
    assert sorted(a.event_id for a in attempts) == sorted(sent)
    assert all(a.applied for a in attempts)
    statuses = await harness.rows(
        "SELECT status, external_post_id FROM distributions WHERE distribution_id = ANY(:ids)",
        ids=[r.distribution_id for r in requests],
    )
    assert [s.status for s in statuses] == ["published"] * 6
    assert await harness.queue_depth() == 0, "everything acknowledged once committed"
    assert await harness.parked() == []


async def test_outcomes_of_one_batch_apply_in_delivery_order_and_each_event_once(
    harness: Harness,
    client: httpx.AsyncClient,
    amqp_url: str,
    team: Team,
    content: dict[str, Any],
    x_account: uuid.UUID,
) -> None:
    first, second = await queued_requests(client, amqp_url, team, content, x_account, 2)
    duplicate = str(uuid.uuid4())
    events: list[Event] = [
        retry(first, 1, T0),
        succeeded(first, 2, T0 + dt.timedelta(minutes=6)),
        retry(first, 1, T0 + dt.timedelta(minutes=1)),  # stale, after the success: recorded, not applied
        retry(second, 2, T0 + dt.timedelta(minutes=5)),
        retry(second, 1, T0),  # older than the one before it: recorded, not applied
        succeeded(second, 3, T0 + dt.timedelta(minutes=10)),
    ]
    ids = [None] * len(events)
    sent = await harness.send(*events, event_ids=ids)
    again = await harness.send(events[0], events[0], event_ids=[duplicate, duplicate])  # a duplicate publish
    consumer = harness.consumer(
        harness.tracker(), outcome_batch_max_size=20, consumer_prefetch=20, outcome_batch_max_wait_ms=500
    )

    async def consumed() -> bool:
        return await harness.queue_depth() == 0 and sum(r.applied + r.duplicates for r in harness.results) == 8

    await run_until(consumer, consumed)
    assert len(harness.results) == 1, "one batch, one transaction"
    assert (harness.results[0].applied, harness.results[0].duplicates) == (7, 1)
    applied = {
        row.event_id: row.applied
        for row in await harness.rows(
            "SELECT event_id, applied FROM attempts WHERE event_id = ANY(:ids)", ids=[*sent, *again]
        )
    }
    assert [applied[event_id] for event_id in sent] == [True, True, False, True, False, True]
    # the duplicate publish of a stale retry: recorded, and too old to change a published distribution
    assert applied[duplicate] is False
    got = {
        row.distribution_id: row
        for row in await harness.rows(
            "SELECT distribution_id, status, last_attempt, external_post_id, failure_message, next_attempt_at"
            " FROM distributions WHERE distribution_id = ANY(:ids)",
            ids=[first.distribution_id, second.distribution_id],
        )
    }
    one, two = got[first.distribution_id], got[second.distribution_id]
    assert (one.status, one.last_attempt, one.external_post_id) == (
        "published",
        2,
        succeeded(first, 2).external_post_id,
    )
    assert (one.failure_message, one.next_attempt_at) == (None, None)
    assert (two.status, two.last_attempt, two.external_post_id) == (
        "published",
        3,
        succeeded(second, 3).external_post_id,
    )


class Poisoned(Tracker):
    """A tracker that cannot apply some events: one whose content is at fault (an instant out of range), one that
    fails however often it is tried (a bug)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.out_of_range: set[str] = set()
        self.broken: set[str] = set()

    def _check(self, event_ids: set[str]) -> None:
        if event_ids & self.out_of_range:
            raise OverflowError("date value out of range")
        if event_ids & self.broken:
            raise RuntimeError("a bug in applying this event")

    async def apply_outcomes(self, batch: Sequence[Consumed]) -> BatchApplied:
        self._check({c.event_id for c in batch})
        return await super().apply_outcomes(batch)

    async def apply(self, received: ReceivedEvent) -> bool:
        self._check({received.attributes.id})
        return await super().apply(received)


async def test_an_event_that_fails_alone_does_not_poison_its_batch(
    harness: Harness,
    client: httpx.AsyncClient,
    amqp_url: str,
    team: Team,
    content: dict[str, Any],
    x_account: uuid.UUID,
) -> None:
    requests = await queued_requests(client, amqp_url, team, content, x_account, 4)
    sent = await harness.send(*(succeeded(r) for r in requests))
    tracker = harness.tracker(Poisoned)
    tracker.out_of_range = {sent[1]}
    tracker.broken = {sent[2]}
    consumer = harness.consumer(tracker, outcome_batch_max_size=4, consumer_prefetch=4)

    async def settled() -> bool:
        return await harness.queue_depth() == 0 and await harness.queue_depth(f"{harness.queue}.dead") == 2

    await run_until(consumer, settled)
    recorded = {
        row.event_id for row in await harness.rows("SELECT event_id FROM attempts WHERE event_id = ANY(:ids)", ids=sent)
    }
    assert recorded == {sent[0], sent[3]}, "the others of the batch are applied"
    parked = {m.message_id: m.headers for m in await harness.parked()}
    assert set(parked) == {sent[1], sent[2]}
    assert parked[sent[1]][PARKED_CATEGORY_HEADER] == "malformed"
    assert "out of range" in str(parked[sent[1]][PARKED_REASON_HEADER])
    assert parked[sent[2]][PARKED_CATEGORY_HEADER] == "poison"
    assert f"failed on all {DELIVERY_LIMIT + 1} deliveries" in str(parked[sent[2]][PARKED_REASON_HEADER])
    assert "RuntimeError" in str(parked[sent[2]][PARKED_REASON_HEADER])


async def test_a_database_outage_holds_the_batch_without_spending_redeliveries(
    harness: Harness,
    client: httpx.AsyncClient,
    amqp_url: str,
    database_url: str,
    team: Team,
    content: dict[str, Any],
    x_account: uuid.UUID,
) -> None:
    requests = await queued_requests(client, amqp_url, team, content, x_account, 4)
    proxy = TcpProxy.in_front_of(database_url, 5432)
    settings = settings_for(proxy.route(database_url), amqp_url)
    engine = kit_db.create_engine(settings, settings.db_schema)
    deliveries: list[object] = []

    class Counting(WorkQueueBatches):
        async def handle(self, batch: Any) -> Any:
            deliveries.extend(message.headers.get("x-delivery-count") for message in batch)
            return await super().handle(batch)

    try:
        async with engine.connect():  # the pool reaches PostgreSQL through the proxy before the cut
            pass
        proxy.cut()
        sent = await harness.send(*(succeeded(r) for r in requests))
        tracker = Tracker(engine, harness.events.envelope, retention=dt.timedelta(hours=1), interval_seconds=3600)
        consumer = harness.consumer(tracker, Counting, outcome_batch_max_size=4, consumer_prefetch=4)
        consumer._engine = engine
        stop = asyncio.Event()
        task = asyncio.create_task(consumer.run(stop))
        try:

            async def holding() -> bool:
                return len(deliveries) == 4 and not await consumer.ready()

            await eventually(holding, within=20, interval=0.05)
            await asyncio.sleep(1.0)  # several retries of the batch while PostgreSQL is away
            assert await harness.queue_depth() == 0, "held unacknowledged, not requeued"
            proxy.restore()

            async def recorded() -> bool:
                return len(set().union(*harness.committed)) == 4 and await consumer.ready()

            await eventually(recorded, within=20, interval=0.05)
        finally:
            stop.set()
            await asyncio.wait_for(task, 15)
    finally:
        await engine.dispose()
        proxy.close()
    assert set().union(*harness.committed) == set(sent)
    assert deliveries == [None] * 4, "each delivered once: the outage spent no redelivery"
    assert await harness.queue_depth() == 0
    assert await harness.parked() == []
