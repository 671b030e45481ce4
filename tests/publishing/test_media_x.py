"""The pipeline with the real ledger (PostgreSQL) and the real X adapter against the X sandbox: a post with a video
whose create fails after the upload is retried with the media id the ledger recorded, without uploading again."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from prometheus_client import CollectorRegistry

from herald.contracts.media import MediaKind
from herald.contracts.platform import Platform
from herald.kit import db
from herald.kit.migrations import upgrade
from herald.kit.settings import ServiceSettings
from herald.platforms.x import XSettings, build
from herald.publishing.app import MIGRATIONS
from herald.publishing.attempt import Attempt
from herald.publishing.decisions import Ack, Retry
from herald.publishing.ledger import Ledger, Status
from herald.publishing.metrics import PublisherMetrics
from herald.publishing.service import PublishPipeline
from herald.publishing.tokens import AccessToken
from herald.sandboxes.faults import Fault, FaultKind
from herald.sandboxes.x.app import create_app
from herald.sandboxes.x.config import XSandboxConfig
from herald.sandboxes.x.runtime import XSandbox
from tests.publishing.fakes import GRACE, TIERS_MS, FakeSink, request
from tests.support.media import FakeMediaSource
from tests.support.servers import serve

SCHEMA = "publisher_media_x"
CLIP = bytes(range(256)) * 600  # 153,600 bytes


@dataclass
class OneToken:
    """The token source of one sandbox account (the token service is not what is tested here)."""

    token: AccessToken

    async def get(self, account_id: uuid.UUID) -> AccessToken:
        return self.token

    async def refresh(self, rejected: AccessToken) -> AccessToken:
        return self.token

    async def report_reauth_required(self, rejected: AccessToken, reason: str) -> None:
        raise AssertionError(reason)


@dataclass
class World:
    pipeline: PublishPipeline
    ledger: Ledger
    sandbox: XSandbox
    source: FakeMediaSource
    registry: CollectorRegistry


@pytest.fixture
async def world(database_url: str) -> AsyncIterator[World]:
    await upgrade(database_url, MIGRATIONS, SCHEMA)
    pool = db.SchemaPool(ServiceSettings(database_url=database_url, service_name="media-x"), SCHEMA)
    await pool.open()
    app = create_app(XSandboxConfig(enforce_rate_limits=False, media_processing_seconds=0.2, media_check_after_secs=0))
    with serve(app) as base_url:
        async with httpx.AsyncClient() as http, httpx.AsyncClient(base_url=base_url) as control:
            minted = (await control.post("/_sandbox/tokens", json={"account": "media-x"})).json()
            me = (
                await control.get("/2/users/me", headers={"Authorization": f"Bearer {minted['access_token']}"})
            ).json()
            settings = XSettings.for_sandbox(base_url, media_segment_bytes=64 * 1024, media_min_poll_seconds=0.05)
            kit = build(settings, http)
            ledger = Ledger(pool)
            registry = CollectorRegistry()
            source = FakeMediaSource()
            pipeline = PublishPipeline(
                client=kit.client,
                rules=kit.rules,
                ledger=ledger,
                tokens=OneToken(AccessToken(uuid.uuid4(), me["data"]["id"], minted["access_token"], None)),
                outcomes=FakeSink(),
                metrics=PublisherMetrics.create(registry, Platform.X, "publisher.x"),
                tiers_ms=TIERS_MS,
                in_flight_grace=GRACE,
                service_name="publisher-x",
                media_source=source,
            )
            yield World(pipeline, ledger, app.state.sandbox, source, registry)
    await pool.close()


async def test_a_retried_video_post_reuses_the_media_id_the_ledger_recorded(world: World) -> None:
    clip = world.source.add(CLIP, kind=MediaKind.VIDEO, content_type="video/mp4", duration_ms=4000)
    sent = request(text="A video for the ledger", media=[clip])
    world.sandbox.state.faults.arm(Fault(kind=FaultKind.ERROR, error="server_error"))  # the create, after upload
    first = await world.pipeline.process(Attempt(sent, 1))
    assert isinstance(first, Retry)
    recorded = await world.ledger.recall_upload(sent.distribution_id, clip.media_id)
    assert recorded is not None
    assert recorded.state == "ready"
    reads = world.source.reads
    assert await world.pipeline.process(Attempt(sent, 2)) == Ack()
    assert world.source.reads == reads  # no byte read again
    [upload] = world.sandbox.uploads.all()
    [post] = world.sandbox.state.posts.all()
    assert post.data["media_ids"] == [upload.id] == [recorded.platform_media_id]
    delivery = await world.ledger.get(sent.distribution_id)
    assert delivery is not None
    assert delivery.status is Status.PUBLISHED
    sample = world.registry.get_sample_value("herald_platform_media_bytes_total", {"platform": "x"})
    assert sample == len(CLIP)
