"""The record writer with a fake store (its own port): one write per batch, dedup, holding on failure, isolating
bad rows, giving up only when stopping."""

import asyncio
import datetime as dt
import uuid
from collections.abc import Sequence

import pytest
from prometheus_client import CollectorRegistry

from herald.audit.ingest import Outcome, RecordWriter, WritePolicy
from herald.audit.metrics import AuditMetrics
from herald.audit.models import Action, AuditRecord, Entity
from herald.audit.repository import RowsRejected
from herald.kit.amqp_consumer import ConsumerAbandoned
from tests.support.eventually import eventually, immediately

NOW = dt.datetime(2025, 3, 14, 12, tzinfo=dt.UTC)


def _record(event_id: str, entity_id: str = "e") -> AuditRecord:
    return AuditRecord(
        event_id=event_id,
        occurred_at=NOW - dt.timedelta(seconds=2),
        event_type="com.herald.content.approved.v1",
        source="/herald/test",
        team_id=uuid.uuid4(),
        actor="system",
        action=Action.CONTENT_APPROVED,
        entity=Entity.CONTENT,
        entity_id=entity_id,
        platform=None,
        correlation_id="c",
    )


class FakeStore:
    """Remembers ids like the table does; can be made unreachable or to refuse some rows."""

    def __init__(self) -> None:
        self.stored: dict[str, AuditRecord] = {}
        self.batches: list[int] = []
        self.down = False
        self.refuse: set[str] = set()
        self.attempts = 0

    async def insert(self, records: Sequence[AuditRecord], recorded_at: dt.datetime) -> set[str]:
        self.attempts += 1
        if self.down:
            raise ConnectionRefusedError("database unreachable")
        if any(r.entity_id in self.refuse for r in records):
            raise RowsRejected("invalid input syntax")
        self.batches.append(len(records))
        new = {r.event_id for r in records if r.event_id not in self.stored}
        self.stored |= {r.event_id: r for r in records if r.event_id in new}
        return new


@pytest.fixture
def metrics() -> AuditMetrics:
    return AuditMetrics(CollectorRegistry())


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


@pytest.fixture
def writer(store: FakeStore, metrics: AuditMetrics) -> RecordWriter:
    return RecordWriter(store, metrics, WritePolicy(retry_initial=0.01, retry_max=0.02), clock=lambda: NOW)


async def test_a_batch_is_one_write_and_every_record_gets_its_outcome_in_order(
    writer: RecordWriter, store: FakeStore, metrics: AuditMetrics
) -> None:
    results = await writer.write([_record(f"id-{i}") for i in range(25)], asyncio.Event())
    assert [r.outcome for r in results] == [Outcome.WRITTEN] * 25
    assert store.batches == [25]
    assert metrics.written.labels("content_approved")._value.get() == 25
    assert metrics.lag._sum.get() == pytest.approx(50.0)  # 25 rows, each recorded 2 s after it occurred


async def test_duplicates_in_and_across_batches_are_reported_not_rewritten(
    writer: RecordWriter, store: FakeStore, metrics: AuditMetrics
) -> None:
    first = await writer.write([_record("dup"), _record("other"), _record("dup")], asyncio.Event())
    assert [r.outcome for r in first] == [Outcome.WRITTEN, Outcome.WRITTEN, Outcome.DUPLICATE]
    again = await writer.write([_record("dup")], asyncio.Event())
    assert [r.outcome for r in again] == [Outcome.DUPLICATE]
    assert store.batches == [2, 1]  # each id is sent once per batch
    assert metrics.duplicates._value.get() == 2


async def test_while_the_store_is_down_the_write_waits_and_readiness_drops(
    writer: RecordWriter, store: FakeStore
) -> None:
    store.down = True
    task = asyncio.create_task(writer.write([_record(f"held-{i}") for i in range(15)], asyncio.Event()))
    # retried, and still no outcome (so no message is acknowledged)
    await eventually(immediately(lambda: store.attempts >= 3), what="three attempts on the store")
    assert not task.done()
    assert await writer.ready() is False
    store.down = False
    results = await asyncio.wait_for(task, 5)
    assert {r.outcome for r in results} == {Outcome.WRITTEN}
    assert set(store.stored) == {f"held-{i}" for i in range(15)}
    assert await writer.ready() is True


async def test_a_refused_row_is_isolated_and_the_rest_of_its_batch_is_written(
    writer: RecordWriter, store: FakeStore
) -> None:
    store.refuse = {"bad"}
    good, bad = await writer.write([_record("g1"), _record("b1", entity_id="bad")], asyncio.Event())
    assert good.outcome is Outcome.WRITTEN
    assert bad.outcome is Outcome.REJECTED
    assert "invalid input syntax" in bad.reason
    assert set(store.stored) == {"g1"}


async def test_stopping_while_the_store_is_down_abandons_the_batch(writer: RecordWriter, store: FakeStore) -> None:
    store.down = True
    stop = asyncio.Event()
    task = asyncio.create_task(writer.write([_record("held")], stop))
    await eventually(immediately(lambda: store.attempts >= 1), what="an attempt on the store")
    stop.set()
    with pytest.raises(ConsumerAbandoned):
        await asyncio.wait_for(task, 2)  # the consumer leaves its messages unacknowledged: redelivered later
    assert store.stored == {}
