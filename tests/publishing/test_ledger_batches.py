"""The PostgreSQL ledger's coalesced claims and marks: concurrent deliveries share statements, and each still gets
exactly its own outcome (the per-row rules themselves are in ``test_ledger_contract.py``)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass

import asyncpg
import pytest
from prometheus_client import CollectorRegistry

from herald.contracts.platform import Platform
from herald.kit import db
from herald.kit.consumers import content_fault
from herald.kit.migrations import upgrade
from herald.kit.settings import ServiceSettings
from herald.platforms.base import PublishedPost
from herald.publishing.app import MIGRATIONS
from herald.publishing.ledger import BATCH_CAP, Ledger, Status
from herald.publishing.metrics import PublisherMetrics
from tests.support.table_stats import updates_reported

SCHEMA = "publisher_ledger_batches"
TEAM, ACCOUNT = uuid.UUID(int=1), uuid.UUID(int=2)


@dataclass
class Publisher:
    """A ledger as one publisher process has it: its own pool and its own metrics."""

    ledger: Ledger
    registry: CollectorRegistry

    def statements(self, operation: str) -> int:
        """How many statements ran for ``operation`` (claim, mark)."""
        return int(self.registry.get_sample_value("herald_ledger_batch_size_count", {"operation": operation}) or 0)

    def items(self, operation: str) -> int:
        """How many claims (marks) those statements carried: more than once each when a batch was run again."""
        return int(self.registry.get_sample_value("herald_ledger_batch_size_sum", {"operation": operation}) or 0)


@pytest.fixture
async def publishers(database_url: str) -> AsyncIterator[Iterator[Publisher]]:
    """Publishers on one ledger schema (as replicas of one deployment are), made on demand."""
    await upgrade(database_url, MIGRATIONS, SCHEMA)
    settings = ServiceSettings(database_url=database_url, service_name="ledger-batches")
    async with AsyncExitStack() as stack:

        async def made() -> Publisher:
            pool = db.SchemaPool(settings, SCHEMA)
            await pool.open()
            stack.push_async_callback(pool.close)
            registry = CollectorRegistry()
            metrics = PublisherMetrics.create(registry, Platform.X, "publisher.x")
            return Publisher(Ledger(pool, batch_sizes=metrics.ledger_batch_size), registry)

        yield iter([await made(), await made()])


@pytest.fixture
def publisher(publishers: Iterator[Publisher]) -> Publisher:
    return next(publishers)


async def test_concurrent_claims_and_marks_share_statements(publisher: Publisher) -> None:
    ledger = publisher.ledger
    ids = [uuid.uuid4() for _ in range(BATCH_CAP + BATCH_CAP // 2)]  # more than one statement holds
    claims = await asyncio.gather(*(ledger.claim(i, TEAM, ACCOUNT, 1) for i in ids))
    assert [(before, after.distribution_id, after.status) for before, after in claims] == [
        (None, i, Status.SENDING) for i in ids
    ]
    assert publisher.items("claim") == len(ids)  # each claim in exactly one statement
    assert 2 <= publisher.statements("claim") < len(ids)  # at most BATCH_CAP a statement, and shared
    published = await asyncio.gather(*(ledger.mark_published(i, PublishedPost(f"p-{i}")) for i in ids))
    assert [(d.distribution_id, d.status, d.post_id) for d in published] == [
        (i, Status.PUBLISHED, f"p-{i}") for i in ids
    ]
    assert publisher.items("mark") == len(ids)
    assert 2 <= publisher.statements("mark") < len(ids)


async def test_of_concurrent_claims_of_one_distribution_exactly_one_claims_it(publisher: Publisher) -> None:
    ledger = publisher.ledger
    twice, other = uuid.uuid4(), uuid.uuid4()
    (first, second, alongside) = await asyncio.gather(
        ledger.claim(twice, TEAM, ACCOUNT, 1),
        ledger.claim(twice, TEAM, ACCOUNT, 2),
        ledger.claim(other, TEAM, ACCOUNT, 1),
    )
    assert first[0] is None
    assert (first[1].status, first[1].attempt) == (Status.SENDING, 1)
    assert second[0] == second[1] == await ledger.get(twice)  # the second sees the first in flight
    assert second[1].attempt == 1
    assert alongside[0] is None
    assert alongside[1].status is Status.SENDING
    assert publisher.items("claim") == 3  # the duplicate waited for the next statement, nothing ran twice


async def test_a_claim_with_a_value_postgresql_refuses_fails_alone(publisher: Publisher) -> None:
    ledger = publisher.ledger
    good = [uuid.uuid4() for _ in range(5)]
    bad = uuid.uuid4()
    results = await asyncio.gather(
        *(ledger.claim(i, TEAM, ACCOUNT, 1) for i in good[:2]),
        ledger.claim(bad, TEAM, ACCOUNT, 2**31),  # beyond the attempt column's integer
        *(ledger.claim(i, TEAM, ACCOUNT, 1) for i in good[2:]),
        return_exceptions=True,
    )
    refused = results.pop(2)
    assert isinstance(refused, asyncpg.DataError)
    assert content_fault(refused) is not None  # so the intake parks that message, and only that one
    assert [r[1].status for r in results if isinstance(r, tuple)] == [Status.SENDING] * len(good)
    assert await ledger.get(bad) is None
    assert publisher.statements("claim") == 1 + 6  # the shared statement, then each claim on its own


async def test_a_mark_with_a_value_postgresql_refuses_fails_alone(publisher: Publisher) -> None:
    ledger = publisher.ledger
    ids = [uuid.uuid4() for _ in range(4)]
    await asyncio.gather(*(ledger.claim(i, TEAM, ACCOUNT, 1) for i in ids))
    results = await asyncio.gather(
        ledger.mark_published(ids[0], PublishedPost("p-0")),
        ledger.mark_published(ids[1], PublishedPost("x" * 201)),  # longer than the post_id column
        ledger.mark_retrying(ids[2]),
        ledger.mark_published(ids[3], PublishedPost("p-3")),
        return_exceptions=True,
    )
    assert isinstance(results[1], asyncpg.StringDataRightTruncationError)
    assert content_fault(results[1]) is not None
    stored = [await ledger.get(i) for i in ids]
    assert [d.status if d else None for d in stored] == [
        Status.PUBLISHED,
        Status.SENDING,
        Status.RETRYING,
        Status.PUBLISHED,
    ]


async def test_two_publishers_claiming_the_same_distributions_at_once_claim_each_once(
    publishers: Iterator[Publisher],
) -> None:
    one, two = next(publishers), next(publishers)
    ids = [uuid.uuid4() for _ in range(40)]
    await asyncio.gather(*(one.ledger.claim(i, TEAM, ACCOUNT, 1) for i in ids))
    await asyncio.gather(*(one.ledger.mark_retrying(i) for i in ids))  # rows to lock, as for redeliveries
    results = await asyncio.gather(
        *(one.ledger.claim(i, TEAM, ACCOUNT, 2) for i in ids),
        *(two.ledger.claim(i, TEAM, ACCOUNT, 2) for i in reversed(ids)),
    )
    claimed = [after.distribution_id for before, after in results if before and before.status is Status.RETRYING]
    assert sorted(claimed) == sorted(ids)
    # No batch failed: a deadlock would have made the failed batch's claims run again, one by one.
    assert (one.items("claim"), two.items("claim")) == (2 * len(ids), len(ids))


async def test_claims_and_marks_are_hot_updates(database_url: str) -> None:
    """A retried claim and the marks rewrite the row on its page, touching no index (HOT updates): there is no status
    index, and pages keep room for the new versions."""
    schema = "publisher_ledger_hot"  # its own table: the statistics below count this test's updates only
    await upgrade(database_url, MIGRATIONS, schema)
    pool = db.SchemaPool(ServiceSettings(database_url=database_url, service_name="ledger-hot"), schema)
    await pool.open()
    try:
        ledger = Ledger(pool)
        ids = [uuid.uuid4() for _ in range(40)]
        await asyncio.gather(*(ledger.claim(i, TEAM, ACCOUNT, 1) for i in ids))  # inserts
        await asyncio.gather(*(ledger.mark_retrying(i) for i in ids))  # updates
        await asyncio.gather(*(ledger.claim(i, TEAM, ACCOUNT, 2) for i in ids))  # updates (the upsert's DO UPDATE)
        await asyncio.gather(*(ledger.mark_published(i, PublishedPost(f"p-{i}")) for i in ids))  # updates
    finally:
        await pool.close()  # a closing backend reports its statistics
    updates, hot = await updates_reported(database_url, schema, "deliveries", at_least=3 * len(ids))
    # With status indexed none was (each changes status); the rest found no room left on their page.
    assert hot >= 0.8 * updates
