"""PostgreSQL goes away under a running audit service: nothing is acknowledged, nothing is lost, nothing doubles.

The service reaches PostgreSQL through a TCP proxy that the test cuts and restores, so the shared PostgreSQL is never
restarted.
"""

import uuid
from collections.abc import Iterator

import asyncpg
import httpx
import pytest

from herald.audit.main import build
from herald.contracts.examples import example_for
from herald.contracts.publishing import PublishRequested
from herald.kit.broker import EventPublisher
from tests.audit.conftest import audit_settings, delete_queues, for_team, record_marker, wait_for_rows
from tests.support.eventually import eventually
from tests.support.proxy import TcpProxy
from tests.support.queues import ready_and_parked
from tests.support.servers import serve

PREFETCH = 60


@pytest.fixture
def proxy(database_url: str) -> Iterator[TcpProxy]:
    proxy = TcpProxy.in_front_of(database_url, 5432)
    yield proxy
    proxy.close()


def _through(proxy: TcpProxy, database_url: str) -> str:
    return proxy.route(database_url)


async def _status(url: str) -> int:
    async with httpx.AsyncClient(base_url=url, timeout=5) as client:
        return (await client.get("/readyz")).status_code


async def _wait_status(url: str, expected: int, timeout: float = 10) -> None:
    async def reached() -> bool:
        return await _status(url) == expected

    await eventually(reached, within=timeout, what=f"/readyz answering {expected}")


def _events(team: uuid.UUID, count: int) -> list[PublishRequested]:
    return [for_team(example_for(PublishRequested), team) for _ in range(count)]


async def test_outage_holds_messages_unacknowledged_and_resumes_without_loss(
    amqp_url: str, database_url: str, proxy: TcpProxy, publisher: EventPublisher, pg: asyncpg.Connection
) -> None:
    settings = audit_settings(amqp_url, _through(proxy, database_url), prefetch_count=PREFETCH, batch_max_size=25)
    team = uuid.uuid4()
    _, app = build(settings)
    try:
        with serve(app) as url:
            before = [publisher.envelope(e) for e in _events(team, 50)]
            await publisher.publish_many(before)
            await wait_for_rows(pg, team, 50)

            proxy.cut()
            during = [publisher.envelope(e) for e in _events(team, 200)]
            await publisher.publish_many([*during, *before[:20]])  # new events plus re-published old ones
            await _wait_status(url, 503)

            async def window_taken() -> tuple[int, int] | None:
                counts = await ready_and_parked(amqp_url, settings.queue_name)
                return counts if counts[0] <= 220 - PREFETCH else None

            # the service has taken its whole prefetch window (and holds it) ...
            counts = await eventually(window_taken, what=f"{PREFETCH} messages taken")
            assert counts is not None
            ready, parked = counts
            assert await wait_for_rows(pg, team, 0) == 50  # ... nothing new was written ...
            assert ready == 220 - PREFETCH  # ... nothing acknowledged, and no more taken than the prefetch window
            assert parked == 0  # and nothing parked as poison

            proxy.restore()
            await wait_for_rows(pg, team, 250, timeout=20)
            await _wait_status(url, 200)
            marker = await record_marker(publisher, pg, team)  # a copy recorded twice would be ahead of it
            query = "SELECT event_id FROM audit.events WHERE team_id = $1 AND event_id <> $2"
            ids = [r["event_id"] for r in await pg.fetch(query, team, marker)]
            assert sorted(ids) == sorted(e.message_id for e in [*before, *during])  # all of them, once each
            assert await ready_and_parked(amqp_url, settings.queue_name) == (0, 0)
    finally:
        await delete_queues(amqp_url, settings.queue_name)


async def test_a_restart_during_the_outage_loses_nothing(
    amqp_url: str, database_url: str, proxy: TcpProxy, publisher: EventPublisher, pg: asyncpg.Connection
) -> None:
    settings = audit_settings(amqp_url, _through(proxy, database_url))
    team = uuid.uuid4()
    envelopes = [publisher.envelope(e) for e in _events(team, 120)]
    try:
        _, app = build(settings)
        with serve(app) as url:
            await publisher.publish_many(envelopes[:20])
            await wait_for_rows(pg, team, 20)
            proxy.cut()
            await publisher.publish_many(envelopes[20:])
            await _wait_status(url, 503)

        # Stopped while PostgreSQL was away: every held message went back to the queue. A quorum queue applies the
        # return of a closed channel's deliveries through its log, so the count catches up a moment later.
        async def all_back() -> bool:
            return await ready_and_parked(amqp_url, settings.queue_name) == (100, 0)

        await eventually(all_back, within=10, what="the 100 held messages back in the queue, none parked")
        proxy.restore()
        _, app = build(settings)
        with serve(app):
            await wait_for_rows(pg, team, 120, timeout=60)  # a restart and 100 rows, on a machine CI may load
        rows = await pg.fetch("SELECT event_id FROM audit.events WHERE team_id = $1", team)
        assert sorted(r["event_id"] for r in rows) == sorted(e.message_id for e in envelopes)
    finally:
        await delete_queues(amqp_url, settings.queue_name)
