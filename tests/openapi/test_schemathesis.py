"""The OpenAPI documents are true: schemathesis runs against each running API (scheduler, tokens, audit) with every
check enabled, NUL bytes allowed in generated strings, within a bounded budget, and fails on any 5xx or any answer
the document does not describe.

Each service is served over real HTTP on a free port, on this run's own vhost and database, authenticated with a
real team API key (and the scheduler's bootstrap secret, so the admin routes are exercised too). Events it publishes
are routable, as the audit service's ``#`` binding makes them in a deployment.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aio_pika
import pytest

from herald.audit.main import build as build_audit
from herald.contracts.routing import EVENTS_EXCHANGE
from herald.kit import db
from herald.kit.admin import BOOTSTRAP_HEADER
from herald.kit.auth import IDENTITY_MIGRATIONS, IDENTITY_SCHEMA, ApiKeyStore
from herald.kit.migrations import upgrade
from herald.kit.settings import ServiceSettings
from herald.scheduler.main import build as build_scheduler
from herald.tokens.main import build as build_tokens
from tests.audit.conftest import audit_settings, delete_queues
from tests.scheduler.support import BOOTSTRAP_SECRET, MEDIA_CALLER, media_settings
from tests.scheduler.support import settings_for as scheduler_settings
from tests.support.media_standin import media_standin
from tests.support.servers import reserve_port, serve
from tests.tokens.conftest import serve_sandboxes, service_credentials
from tests.tokens.conftest import settings_for as tokens_settings

CONFIG = Path(__file__).with_name("schemathesis.toml")
MAX_EXAMPLES = int(os.environ.get("HERALD_SCHEMATHESIS_EXAMPLES", "15"))
"""Test cases per operation and phase; the whole module stays within about two minutes on two loaded cores."""
SECONDS = int(os.environ.get("HERALD_SCHEMATHESIS_SECONDS", "25"))
"""The budget of one API's run (the internal tokens API gets half)."""


@pytest.fixture(scope="module")
async def routable(amqp_url: str) -> AsyncIterator[None]:
    """A queue bound to ``#`` for the module's lifetime (what the audit service's binding is in a deployment)."""
    connection = await aio_pika.connect_robust(amqp_url)
    channel = await connection.channel()
    exchange = await channel.declare_exchange(EVENTS_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)
    queue = await channel.declare_queue(
        f"schemathesis-sink-{uuid.uuid4().hex[:6]}", exclusive=True, arguments={"x-max-length": 10_000}
    )
    await queue.bind(exchange, routing_key="#")
    yield
    await connection.close()


@pytest.fixture(scope="module")
async def team_key(database_url: str) -> str:
    await upgrade(database_url, IDENTITY_MIGRATIONS, IDENTITY_SCHEMA)
    engine = db.create_engine(ServiceSettings(database_url=database_url), IDENTITY_SCHEMA, pool_size=1)
    try:
        _, key = await ApiKeyStore(engine).create(uuid.uuid4(), "schemathesis")
    finally:
        await engine.dispose()
    return key


def schemathesis(url: str, *headers: str, tmp: Path, seconds: int = SECONDS, only: str | None = None) -> None:
    """Run schemathesis against ``url``'s OpenAPI document; fail the test with its report on any failure."""
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(CONFIG),
        "run",
        f"{url}/openapi.json",
        "--checks",
        "all",
        "--phases",
        "examples,coverage,fuzzing",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--max-time",
        str(seconds),
        "--workers",
        "1",
        "--seed",
        "13",
        "--generation-allow-x00",
        "true",
        "--generation-database",
        "none",
        "--request-timeout",
        "30",
        "--no-color",
        "--report-dir",
        str(tmp),
    ]
    for header in headers:
        command += ["-H", header]
    if only is not None:
        command += ["--include-path-regex", only]
    tmp.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(  # in tmp: schemathesis keeps a cache (.schemathesis/) in its working directory
        command, capture_output=True, text=True, check=False, timeout=seconds + 120, cwd=tmp
    )
    assert done.returncode == 0, done.stdout[-12_000:] + done.stderr[-3000:]


@pytest.fixture(scope="module")
def scheduler_url(database_url: str, amqp_url: str, routable: None) -> Iterator[str]:
    # A media stand-in answers the scheduler's resolve calls (generated ids are unknown: 422), so content with media
    # is exercised without a media service; the media service's credential opens the internal API.
    with media_standin() as media:
        settings = scheduler_settings(
            database_url, amqp_url, work_queue=f"scheduler-openapi-{uuid.uuid4().hex[:6]}", **media_settings(media)
        )
        _, app = build_scheduler(settings)
        with serve(app) as url:
            yield url


async def test_the_scheduler_answers_what_its_openapi_document_says(
    scheduler_url: str, team_key: str, tmp_path: Path
) -> None:
    schemathesis(
        scheduler_url,
        f"Authorization: Bearer {team_key}",
        f"{BOOTSTRAP_HEADER}: {BOOTSTRAP_SECRET}",
        tmp=tmp_path / "team",
        only="^/(v1|metrics|healthz|readyz)",
    )
    internal = f"Authorization: Bearer {MEDIA_CALLER[0]}"
    schemathesis(scheduler_url, internal, tmp=tmp_path / "internal", seconds=SECONDS // 2, only="^/internal/")


async def test_tokens_answers_what_its_openapi_document_says(
    database_url: str, amqp_url: str, routable: None, team_key: str, tmp_path: Path
) -> None:
    credentials, hashes = service_credentials()
    with serve_sandboxes() as sandboxes:
        settings = tokens_settings(database_url, amqp_url, sandboxes, reserve_port(), hashes)
        _, app = build_tokens(settings)
        with serve(app, port=settings.http_port) as url:
            schemathesis(
                url, f"Authorization: Bearer {team_key}", tmp=tmp_path / "team", only="^/(v1|metrics|healthz|readyz)"
            )
            internal = f"Authorization: Bearer {credentials['publisher-x']}"
            schemathesis(url, internal, tmp=tmp_path / "internal", seconds=SECONDS // 2, only="^/internal/")


async def test_audit_answers_what_its_openapi_document_says(
    database_url: str, amqp_url: str, routable: None, team_key: str, tmp_path: Path
) -> None:
    settings = audit_settings(amqp_url, database_url)
    _, app = build_audit(settings)
    try:
        with serve(app) as url:
            schemathesis(url, f"Authorization: Bearer {team_key}", tmp=tmp_path)
    finally:
        await delete_queues(amqp_url, settings.queue_name)
