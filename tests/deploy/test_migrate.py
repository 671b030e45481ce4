"""The Kubernetes init container's migration script (deploy/k8s/base/migrate.py) migrates every service's schema
into an empty database, twice at once without harm (what several replicas starting together do)."""

from __future__ import annotations

import asyncio
import importlib.util
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from types import ModuleType
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from tests.deploy.services import DEPLOY, SERVICES

SCRIPT = DEPLOY / "k8s" / "base" / "migrate.py"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("herald_k8s_migrate", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def _admin(base_url: str, sql: str) -> None:
    conn = await asyncpg.connect(_dsn(base_url))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture
def empty_database(database_base_url: str) -> Iterator[str]:
    name = f"herald_migrate_{uuid.uuid4().hex[:8]}"
    asyncio.run(_admin(database_base_url, f'CREATE DATABASE "{name}"'))
    parts = urlsplit(database_base_url)
    yield urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))
    asyncio.run(_admin(database_base_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _schemas(url: str) -> set[str]:
    conn = await asyncpg.connect(_dsn(url))
    try:
        rows = await conn.fetch("SELECT schema_name FROM information_schema.schemata")
        return {row["schema_name"] for row in rows}
    finally:
        await conn.close()


def test_the_script_knows_every_service() -> None:
    assert set(_script().RUNTIMES) == {service.module for service in SERVICES.values()}
    assert _script().main(["herald.nothing"]) == 2


def test_every_service_migrates_into_an_empty_database_even_twice_at_once(
    empty_database: str, amqp_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HERALD_DATABASE_URL", empty_database)
    monkeypatch.setenv("HERALD_AMQP_URL", amqp_url)
    script = _script()
    modules = [service.module for service in SERVICES.values()]
    # Two "replicas" of every service at once: the advisory lock serialises each schema's migrations.
    with ThreadPoolExecutor(max_workers=4) as pool:
        statuses = list(pool.map(lambda module: script.main([module]), modules + modules))
    assert statuses == [0] * len(statuses)
    schemas = asyncio.run(_schemas(empty_database))
    expected = {"identity", "scheduler", "tokens", "audit", "publisher_x", "publisher_linkedin", "publisher_meta"}
    assert expected <= schemas
