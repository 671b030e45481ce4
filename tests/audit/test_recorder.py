"""The batch recorder with a fake store (its own port): batching, dedup, holding on failure, isolating bad rows."""

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator, Sequence

import pytest
from prometheus_client import CollectorRegistry

from herald.audit.metrics import AuditMetrics
from herald.audit.models import Action, AuditRecord, Entity
from herald.audit.recorder import BatchPolicy, BatchRecorder, Outcome, RecorderClosed
from herald.audit.repository import RowsRejected
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
        self.unreachable = 0
        """Writes refused because the store was down."""

    async def insert(self, records: Sequence[AuditRecord], recorded_at: dt.datetime) -> set[str]:
        if self.down:
            self.unreachable += 1
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
async def running(metrics: AuditMetrics) -> AsyncIterator[tuple[BatchRecorder, FakeStore, asyncio.Event]]:
    store = FakeStore()
    recorder = BatchRecorder(
        store, metrics, BatchPolicy(max_size=10, max_wait=0.05, retry_initial=0.01, retry_max=0.02), clock=lambda: NOW
    )
    stop = asyncio.Event()
    task = asyncio.create_task(recorder.run(stop))
    yield recorder, store, stop
    stop.set()
    await asyncio.wait_for(task, 5)


async def test_concurrent_records_share_batches_of_at_most_max_size(
    running: tuple[BatchRecorder, FakeStore, asyncio.Event], metrics: AuditMetrics
) -> None:
    recorder, store, _ = running
    results = await asyncio.gather(*(recorder.record(_record(f"id-{i}")) for i in range(25)))
    assert {r.outcome for r in results} == {Outcome.WRITTEN}
    assert sorted(store.batches) == [5, 10, 10]
    assert metrics.written.labels("content_approved")._value.get() == 25
    assert metrics.lag._sum.get() == pytest.approx(50.0)  # 25 rows, each recorded 2 s after it occurred


async def test_a_lone_record_is_written_after_the_wait(running: tuple[BatchRecorder, FakeStore, asyncio.Event]) -> None:
    recorder, store, _ = running
    started = asyncio.get_running_loop().time()
    assert (await recorder.record(_record("solo"))).outcome is Outcome.WRITTEN
    assert 0.04 <= asyncio.get_running_loop().time() - started < 1
    assert store.batches == [1]


async def test_duplicates_in_and_across_batches_are_reported_not_rewritten(
    running: tuple[BatchRecorder, FakeStore, asyncio.Event], metrics: AuditMetrics
) -> None:
    recorder, store, _ = running
    first = await asyncio.gather(recorder.record(_record("dup")), recorder.record(_record("dup")))
    assert sorted(r.outcome.value for r in first) == ["duplicate", "written"]
    again = await recorder.record(_record("dup"))
    assert again.outcome is Outcome.DUPLICATE
    assert store.batches == [1, 1]
    assert metrics.duplicates._value.get() == 2


async def test_while_the_store_is_down_nothing_resolves_and_readiness_drops(
    running: tuple[BatchRecorder, FakeStore, asyncio.Event],
) -> None:
    recorder, store, _ = running
    store.down = True
    pending = [asyncio.create_task(recorder.record(_record(f"held-{i}"))) for i in range(15)]
    await eventually(immediately(lambda: store.unreachable >= 3), what="the batch tried and retried")
    assert not any(task.done() for task in pending)  # no outcome, so no handler acknowledges anything
    assert await recorder.ready() is False
    store.down = False
    results = await asyncio.wait_for(asyncio.gather(*pending), 5)
    assert {r.outcome for r in results} == {Outcome.WRITTEN}
    assert set(store.stored) == {f"held-{i}" for i in range(15)}
    assert await recorder.ready() is True


async def test_a_refused_row_is_isolated_and_the_rest_of_its_batch_is_written(
    running: tuple[BatchRecorder, FakeStore, asyncio.Event],
) -> None:
    recorder, store, _ = running
    store.refuse = {"bad"}
    good, bad = await asyncio.gather(recorder.record(_record("g1")), recorder.record(_record("b1", entity_id="bad")))
    assert good.outcome is Outcome.WRITTEN
    assert bad.outcome is Outcome.REJECTED
    assert "invalid input syntax" in bad.reason
    assert set(store.stored) == {"g1"}


async def test_stopping_flushes_what_is_pending_then_refuses_new_records(
    running: tuple[BatchRecorder, FakeStore, asyncio.Event],
) -> None:
    recorder, store, stop = running
    task = asyncio.create_task(recorder.record(_record("last")))
    await asyncio.sleep(0)
    stop.set()
    assert (await asyncio.wait_for(task, 2)).outcome is Outcome.WRITTEN
    assert "last" in store.stored
    await asyncio.sleep(0.01)
    with pytest.raises(RecorderClosed):
        await recorder.record(_record("too-late"))


async def test_stopping_while_the_store_is_down_fails_the_held_records(
    running: tuple[BatchRecorder, FakeStore, asyncio.Event],
) -> None:
    recorder, store, stop = running
    store.down = True
    task = asyncio.create_task(recorder.record(_record("held")))
    await eventually(immediately(lambda: store.unreachable >= 1), what="the batch tried")
    stop.set()
    with pytest.raises(RecorderClosed):
        await asyncio.wait_for(task, 2)  # the handler leaves its message unacknowledged: redelivered later
