"""The media service starts while the object store is still coming up: not ready until the bucket exists, never an
exit (a store electing its master must not take ``make run`` down)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from herald.objectstore import ObjectStoreError
from tests.media.conftest import SchedulerStandIn, fresh_database, settings_for, start_media
from tests.media.memory_store import MemoryStore
from tests.support.eventually import eventually
from tests.support.servers import reserve_port


class LateStore(MemoryStore):
    """Unreachable until ``up`` is set; then it has a bucket once asked to create one."""

    def __init__(self) -> None:
        super().__init__()
        self.up = False
        self.bucket = False
        self.attempts = 0

    async def ensure_bucket(self) -> None:
        self.attempts += 1
        if not self.up:
            raise ObjectStoreError("object store unreachable")
        self.bucket = True

    async def bucket_exists(self) -> bool:
        if not self.up:
            raise ObjectStoreError("object store unreachable")
        return self.bucket


@pytest.fixture
async def own_database(database_base_url: str) -> AsyncIterator[str]:
    async with fresh_database(database_base_url) as url:
        yield url


async def test_the_service_waits_for_a_late_object_store_instead_of_exiting(
    own_database: str, amqp_url: str, scheduler_stand_in: tuple[SchedulerStandIn, str, str]
) -> None:
    _, scheduler_url, token = scheduler_stand_in
    store = LateStore()
    settings = settings_for(own_database, amqp_url, reserve_port(), scheduler_url, service_token=token)
    with start_media(settings, store) as url:
        async with httpx.AsyncClient(timeout=10) as client:

            async def tried_twice() -> bool:
                return store.attempts >= 2

            await eventually(tried_twice, what="the bucket asked for again")
            assert (await client.get(f"{url}/readyz")).status_code == 503
            assert (await client.get(f"{url}/healthz")).status_code == 200
            store.up = True

            async def ready() -> bool:
                return (await client.get(f"{url}/readyz")).status_code == 200

            await eventually(ready, what="ready once the store answers")
    assert store.bucket
