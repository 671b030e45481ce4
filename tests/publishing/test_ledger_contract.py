"""The ledger's contract, checked on the in-memory fake and on PostgreSQL alike, so the fake cannot drift from
the real ledger that the decision tests stand in for."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator

import pytest

from herald.kit import db
from herald.kit.clock import utc_now
from herald.kit.migrations import upgrade
from herald.kit.settings import ServiceSettings
from herald.platforms.base import PublishedPost, UploadRecord
from herald.publishing.app import MIGRATIONS
from herald.publishing.ledger import Delivery, Failure, Ledger, Status
from herald.publishing.ports import DeliveryLedger
from tests.publishing.fakes import FakeLedger, ManualClock

SCHEMA = "publisher_ledger_contract"


@pytest.fixture
def clock() -> ManualClock:
    # Real time, frozen: the ledger's timestamps are exact, and PostgreSQL's now() (account holds) agrees with it.
    return ManualClock(utc_now().replace(microsecond=0))


@pytest.fixture(params=["fake", "postgresql"])
def database(request: pytest.FixtureRequest) -> str | None:
    """The database URL for the real ledger; None for the fake (which then needs no database at all)."""
    url: str | None = request.getfixturevalue("database_url") if request.param == "postgresql" else None
    return url


@pytest.fixture
async def ledger(database: str | None, clock: ManualClock) -> AsyncIterator[DeliveryLedger]:
    if database is None:
        yield FakeLedger(clock)
        return
    database_url = database
    await upgrade(database_url, MIGRATIONS, SCHEMA)
    settings = ServiceSettings(database_url=database_url, service_name="ledger-contract")
    pool = db.SchemaPool(settings, SCHEMA)  # as the publisher wires it
    await pool.open()
    try:
        yield Ledger(pool, clock)
    finally:
        await pool.close()


async def claim(
    ledger: DeliveryLedger, distribution_id: uuid.UUID, attempt: int, replay: str | None = None
) -> tuple[Delivery | None, Delivery]:
    return await ledger.claim(distribution_id, uuid.UUID(int=1), uuid.UUID(int=2), attempt, replay=replay)


async def test_a_first_claim_marks_it_sending(ledger: DeliveryLedger, clock: ManualClock) -> None:
    distribution_id = uuid.uuid4()
    before, after = await claim(ledger, distribution_id, 1)
    assert before is None
    assert after == Delivery(distribution_id, Status.SENDING, 1, clock(), alive_at=clock())
    assert await ledger.get(distribution_id) == after


async def test_a_claim_while_sending_changes_nothing(ledger: DeliveryLedger, clock: ManualClock) -> None:
    distribution_id = uuid.uuid4()
    _, first = await claim(ledger, distribution_id, 1)
    clock.advance(5)
    before, after = await claim(ledger, distribution_id, 2)
    assert before == after == first


async def test_a_retrying_distribution_is_claimed_again_and_keeps_its_ambiguity(
    ledger: DeliveryLedger, clock: ManualClock
) -> None:
    distribution_id = uuid.uuid4()
    await claim(ledger, distribution_id, 1)
    await ledger.mark_ambiguous(distribution_id)
    await ledger.mark_retrying(distribution_id)
    retrying = await ledger.get(distribution_id)
    assert retrying is not None
    assert (retrying.status, retrying.ambiguous, retrying.finished_at) == (Status.RETRYING, True, None)
    clock.advance(5)
    before, after = await claim(ledger, distribution_id, 2)
    assert before == retrying
    assert after == Delivery(distribution_id, Status.SENDING, 2, clock(), alive_at=clock())
    stored = await ledger.get(distribution_id)
    assert stored is not None
    assert (stored.status, stored.attempt, stored.started_at, stored.ambiguous) == (Status.SENDING, 2, clock(), True)


async def test_only_the_claim_in_flight_is_kept_alive(ledger: DeliveryLedger, clock: ManualClock) -> None:
    distribution_id = uuid.uuid4()
    _, claimed = await claim(ledger, distribution_id, 1)
    assert claimed.started_at is not None
    clock.advance(20)
    assert await ledger.keep_alive(distribution_id, claimed.started_at) is True
    renewed = await ledger.get(distribution_id)
    assert renewed is not None
    assert (renewed.status, renewed.started_at, renewed.alive_at) == (Status.SENDING, claimed.started_at, clock())
    # Another claim's start, or another distribution: nothing to renew.
    assert await ledger.keep_alive(distribution_id, claimed.started_at - dt.timedelta(seconds=1)) is False
    assert await ledger.keep_alive(uuid.uuid4(), claimed.started_at) is False
    clock.advance(1)
    published = await ledger.mark_published(distribution_id, PublishedPost("p-1", url="https://x.test/p-1"))
    clock.advance(20)
    assert await ledger.keep_alive(distribution_id, claimed.started_at) is False  # an outcome ends the renewals
    assert await ledger.get(distribution_id) == published


async def test_published_is_final(ledger: DeliveryLedger, clock: ManualClock) -> None:
    distribution_id = uuid.uuid4()
    _, claimed = await claim(ledger, distribution_id, 2)
    clock.advance(1)
    published = await ledger.mark_published(distribution_id, PublishedPost("p-1", url="https://x.test/p-1"))
    assert published == Delivery(
        distribution_id, Status.PUBLISHED, 2, claimed.started_at, post_id="p-1", post_url=published.post_url,
        finished_at=clock(), alive_at=clock(),
    )  # fmt: skip
    assert published.post_url == "https://x.test/p-1"
    assert await claim(ledger, distribution_id, 3, replay="r1") == (published, published)


async def test_a_failure_is_recorded_and_reopened_once_per_replay(ledger: DeliveryLedger, clock: ManualClock) -> None:
    distribution_id = uuid.uuid4()
    await claim(ledger, distribution_id, 3)
    refused = Failure("permanent", "too long", error_class="permanent", http_status=400, response_excerpt="{...}")
    failed = await ledger.mark_failed(distribution_id, refused)
    assert (failed.status, failed.failure, failed.finished_at, failed.generation) == (
        Status.FAILED,
        refused,
        clock(),
        "",
    )
    assert await claim(ledger, distribution_id, 1) == (failed, failed)  # redelivered: not reopened
    before, reopened = await claim(ledger, distribution_id, 1, replay="r1")
    assert before == failed
    assert reopened == Delivery(distribution_id, Status.SENDING, 1, clock(), generation="r1", alive_at=clock())
    again = await ledger.mark_failed(distribution_id, refused)
    assert again.generation == "r1"
    assert await claim(ledger, distribution_id, 1, replay="r1") == (again, again)  # the same replay: once


async def test_unconfirmed_is_final_even_for_a_replay(ledger: DeliveryLedger, clock: ManualClock) -> None:
    distribution_id = uuid.uuid4()
    await claim(ledger, distribution_id, 1)
    unknown = Failure("unconfirmed", "timed out; read-back failed", error_class="unknown_outcome")
    unconfirmed = await ledger.mark_unconfirmed(distribution_id, unknown)
    assert (unconfirmed.status, unconfirmed.failure, unconfirmed.finished_at) == (Status.UNCONFIRMED, unknown, clock())
    assert await claim(ledger, distribution_id, 2, replay="r1") == (unconfirmed, unconfirmed)


async def test_account_holds_only_grow_and_lapse(ledger: DeliveryLedger, clock: ManualClock) -> None:
    held_account, other, lapsed = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    later = clock() + dt.timedelta(hours=1)
    await ledger.hold(held_account, later, "429")
    await ledger.hold(held_account, clock() + dt.timedelta(minutes=30), "429 again")
    await ledger.hold(lapsed, clock() - dt.timedelta(hours=1), "long ago")

    async def held(account_id: uuid.UUID) -> tuple[dt.datetime, uuid.UUID] | None:
        _, claimed = await ledger.claim(uuid.uuid4(), uuid.UUID(int=1), account_id, 1, holds=(account_id,))
        return claimed.held

    assert await held(held_account) == (later, held_account)
    assert await held(other) is None
    assert await held(lapsed) is None


async def test_a_claim_reports_the_latest_active_hold_it_was_asked_about(
    ledger: DeliveryLedger, clock: ManualClock
) -> None:
    account, app, other = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await ledger.hold(account, clock() + dt.timedelta(minutes=5), "429")
    await ledger.hold(app, clock() + dt.timedelta(hours=1), "usage cap")
    await ledger.hold(other, clock() - dt.timedelta(hours=1), "lapsed")
    _, after = await ledger.claim(uuid.uuid4(), uuid.UUID(int=1), account, 1, holds=(account, app))
    assert after.held == (clock() + dt.timedelta(hours=1), app)
    _, after = await ledger.claim(uuid.uuid4(), uuid.UUID(int=1), account, 1, holds=(account,))
    assert after.held == (clock() + dt.timedelta(minutes=5), account)
    _, after = await ledger.claim(uuid.uuid4(), uuid.UUID(int=1), other, 1, holds=(other,))
    assert after.held is None
    distribution_id = uuid.uuid4()
    await claim(ledger, distribution_id, 1)
    before, again = await ledger.claim(distribution_id, uuid.UUID(int=1), account, 2, holds=(account,))
    assert before == again
    assert again.held is None  # not claimed (in flight): no hold is read


async def test_of_concurrent_claims_exactly_one_may_send(ledger: DeliveryLedger, clock: ManualClock) -> None:
    async def claims(distribution_id: uuid.UUID) -> int:
        results = await asyncio.gather(*(claim(ledger, distribution_id, n) for n in range(1, 9)))
        return sum(after.status is Status.SENDING and (before is None or before.status is not Status.SENDING)
                   for before, after in results)  # fmt: skip

    fresh, retrying = uuid.uuid4(), uuid.uuid4()
    await claim(ledger, retrying, 1)
    await ledger.mark_retrying(retrying)
    assert (await claims(fresh), await claims(retrying)) == (1, 1)


async def test_upload_steps_are_recalled_per_distribution_and_media_item(
    ledger: DeliveryLedger, clock: ManualClock
) -> None:
    distribution_id, other, media_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    assert await ledger.recall_upload(distribution_id, media_id) is None
    started = UploadRecord("1880000000000000001", "initialized", clock() + dt.timedelta(hours=24), {"segments": "0"})
    await ledger.remember_upload(distribution_id, media_id, started)
    assert await ledger.recall_upload(distribution_id, media_id) == started
    assert await ledger.recall_upload(other, media_id) is None
    assert await ledger.recall_upload(distribution_id, uuid.uuid4()) is None


async def test_a_later_upload_step_replaces_the_earlier_one(ledger: DeliveryLedger, clock: ManualClock) -> None:
    distribution_id, media_id = uuid.uuid4(), uuid.uuid4()
    await ledger.remember_upload(distribution_id, media_id, UploadRecord("a", "appended", None, {"segments": "3"}))
    ready = UploadRecord("a", "ready", clock() + dt.timedelta(minutes=5))
    await ledger.remember_upload(distribution_id, media_id, ready)
    assert await ledger.recall_upload(distribution_id, media_id) == ready
    again = UploadRecord("urn:li:video:C5", "processing", None, {"upload_url": "https://upload.example/1?x=y"})
    await ledger.remember_upload(distribution_id, media_id, again)
    assert await ledger.recall_upload(distribution_id, media_id) == again
