"""The scheduled cleanup: abandoned uploads and orphaned objects removed, audited, once across replicas."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from herald.contracts.envelope import service_source, to_amqp
from herald.kit.auth import ApiKeyStore
from herald.kit.migrations import upgrade
from herald.media import repository
from herald.media.cleanup import ORPHAN_LOCK, Cleanup
from herald.media.events import EventWriter
from herald.media.main import MIGRATIONS, SCHEMA
from herald.media.metrics import MediaMetrics
from herald.objectstore import ObjectStore
from tests.media import samples
from tests.media.conftest import (
    EventLog,
    SchedulerStandIn,
    Switch,
    fresh_database,
    schema_engine,
    settings_for,
    start_media,
)
from tests.support.eventually import eventually
from tests.support.servers import reserve_port

MIB = 1024 * 1024


@pytest.fixture
async def own_database(database_base_url: str) -> AsyncIterator[str]:
    async with fresh_database(database_base_url) as url:
        yield url


async def test_abandoned_uploads_and_orphaned_objects_are_removed_and_audited(
    own_database: str,
    amqp_url: str,
    event_log: EventLog,
    scheduler_stand_in: tuple[SchedulerStandIn, str, str],
    objectstore: ObjectStore,
) -> None:
    _, scheduler_url, token = scheduler_stand_in
    store = objectstore  # a bucket of this test's own: the scan must not see other tests' objects
    settings = settings_for(
        own_database,
        amqp_url,
        reserve_port(),
        scheduler_url,
        service_token=token,
        cleanup_enabled=True,
        cleanup_interval_seconds=0.3,
        abandoned_upload_seconds=1.5,
        orphan_grace_seconds=1.5,
    )
    engine = schema_engine(own_database)
    team_id = uuid.uuid4()
    with start_media(settings, ObjectStore(store.settings)) as url:
        _, key = await ApiKeyStore(engine).create(team_id, "tests")
        team = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(timeout=30) as client:
            kept = await client.post(f"{url}/v1/media", headers=team, files={"file": ("a.png", samples.image("PNG"))})
            assert kept.status_code == 201
            data = samples.mp4(mdat_bytes=2 * MIB, salt=uuid.uuid4().bytes)
            upload = (await client.post(f"{url}/v1/uploads", headers=team, json={"size_bytes": len(data)})).json()
            chunk = await client.put(upload["upload_url"], headers={**team, "Upload-Offset": "0"}, content=data[:MIB])
            assert chunk.status_code == 200
            orphan = f"teams/{team_id}/media/{uuid.uuid4()}"
            await store.put(orphan, b"left behind by a crash", "image/png")

            async def swept() -> bool:
                multiparts = await store.list_multipart_uploads(f"teams/{team_id}/")
                keys = {o.key async for o in store.list(f"teams/{team_id}/")}
                if multiparts or keys != {f"teams/{team_id}/media/{kept.json()['id']}"}:
                    return False
                # the upload's row goes last (after its parts), so a sweep cut short is finished by the next one
                return (await client.head(upload["upload_url"], headers=team)).status_code == 404

            await eventually(swept, within=15, what="the abandoned upload and the orphan removed")
            assert (await client.get(f"{url}/v1/media/{kept.json()['id']}", headers=team)).status_code == 200
            abandoned = await event_log.wait_for("media.cleaned_up", target=upload["id"])
            assert abandoned["category"] == "abandoned_upload"
            assert abandoned["bytes_freed"] == MIB
            assert abandoned["actor"] == "system"
            removed = await event_log.wait_for("media.cleaned_up", target=orphan)
            assert (removed["category"], removed["team_id"]) == ("orphaned_object", str(team_id))
            metrics = (await client.get(f"{url}/metrics")).text
            assert 'herald_media_cleanup_removals_total{category="orphaned_object"} 1.0' in metrics
            assert 'herald_media_cleanup_removals_total{category="abandoned_upload"} 1.0' in metrics
    await engine.dispose()


def cleanup_replica(engine: AsyncEngine, store: ObjectStore, settings_url: str, amqp_url: str) -> Cleanup:
    settings = settings_for(settings_url, amqp_url, 0, "http://127.0.0.1:9", orphan_grace_seconds=60)
    writer = EventWriter(lambda event: to_amqp(event, source=service_source("media")))
    return Cleanup(engine, store, writer, MediaMetrics(CollectorRegistry()), settings)


async def test_replicas_sweep_the_bucket_one_at_a_time_and_remove_each_orphan_once(
    own_database: str, amqp_url: str, objectstore: ObjectStore
) -> None:
    await upgrade(own_database, MIGRATIONS, SCHEMA)
    store = objectstore
    team_id = uuid.uuid4()
    orphans = [f"teams/{team_id}/media/{uuid.uuid4()}" for _ in range(30)]
    for key in orphans:
        await store.put(key, b"x" * 10, "image/png")
    engines = [schema_engine(own_database) for _ in range(3)]
    replicas = [cleanup_replica(engine, store, own_database, amqp_url) for engine in engines[:2]]
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)

    async with engines[2].begin() as conn:  # another replica is scanning: this one stands aside
        assert await repository.try_lock(conn, ORPHAN_LOCK)
        standing_aside = await replicas[0].sweep(later)
    assert (standing_aside.scanned, standing_aside.orphaned_objects) == (False, 0)
    assert len([o async for o in store.list("teams/")]) == len(orphans)

    reports = await asyncio.gather(*(replica.sweep(later) for replica in replicas))
    assert sum(r.orphaned_objects for r in reports) == len(orphans)
    assert [o async for o in store.list("teams/")] == []
    async with engines[0].connect() as conn:
        written = (await conn.execute(text("SELECT count(*) FROM outbox"))).scalar_one()
    assert written == len(orphans)  # one MediaCleanedUp per removal
    for engine in engines:
        await engine.dispose()


async def test_a_round_while_the_store_is_unreachable_is_a_warning_not_an_error(
    own_database: str, amqp_url: str, objectstore: ObjectStore, caplog: pytest.LogCaptureFixture
) -> None:
    await upgrade(own_database, MIGRATIONS, SCHEMA)
    engine = schema_engine(own_database)
    away = ObjectStore(
        objectstore.settings, client=httpx.AsyncClient(transport=Switch(httpx.AsyncHTTPTransport(), away=True))
    )
    cleanup = cleanup_replica(engine, away, own_database, amqp_url)
    stop = asyncio.Event()
    try:
        with caplog.at_level("WARNING", logger="herald.media.cleanup"):
            rounds = asyncio.create_task(cleanup.run(stop))

            async def skipped() -> bool:
                return any("skipped" in r.getMessage() for r in caplog.records)

            await eventually(skipped)
            stop.set()
            await rounds
        cleanup_records = [r for r in caplog.records if r.name == "herald.media.cleanup"]
        assert [r.levelname for r in cleanup_records] == ["WARNING"]
        assert "unreachable" in cleanup_records[0].getMessage()
        assert cleanup_records[0].exc_info is None
    finally:
        await away.aclose()
        await engine.dispose()
