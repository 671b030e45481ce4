"""Session-wide infrastructure: an isolated RabbitMQ vhost and an isolated PostgreSQL database.

URLs come from ``HERALD_TEST_AMQP_URL`` / ``HERALD_TEST_DATABASE_URL``, else the local defaults (the services this
machine kind runs), else testcontainers when a Docker engine exists. If none can be had, the run fails loudly:
these tests never fall back to mocks.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg
import httpx
import pytest

from herald.kit.amqp_transport import coalesce_amqp_writes

INFRASTRUCTURE_FIXTURES = frozenset(
    {"amqp_base_url", "amqp_url", "database_base_url", "database_url", "objectstore_settings", "objectstore"}
)
"""The fixtures that reach RabbitMQ, PostgreSQL or the object store (lazy: only tests that ask for them create
anything)."""
DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
RUN_ID = uuid.uuid4().hex[:8]

# Shared fixtures kept in their own modules: the object store (a SeaweedFS server per session, a bucket per test).
pytest_plugins = ["tests.support.objectstore"]


def pytest_configure(config: pytest.Config) -> None:
    """Every service runs its AMQP connections on the coalescing transport (``ServiceRuntime`` installs it); so do
    the tests that drive services' parts in-process."""
    coalesce_amqp_writes()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test marked ``fast`` must not reach the infrastructure, even through another fixture."""
    for item in items:
        if item.get_closest_marker("fast") is None:
            continue
        reached = INFRASTRUCTURE_FIXTURES.intersection(getattr(item, "fixturenames", ()))
        if reached:
            raise pytest.UsageError(f"{item.nodeid} is marked fast but uses {', '.join(sorted(reached))}")


def _with_path(url: str, path: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, parts.fragment))


def _asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def _postgres_reachable(url: str) -> bool:
    try:
        conn = await asyncpg.connect(_asyncpg_dsn(url), timeout=3)
    except (OSError, asyncpg.PostgresError):
        return False
    await conn.close()
    return True


def _amqp_reachable(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5672), timeout=3):
            return True
    except OSError:
        return False


def _docker_available() -> bool:
    return (
        shutil.which("docker") is not None
        and subprocess.run(["docker", "info"], capture_output=True, check=False).returncode == 0
    )


def _from_container(kind: str) -> str:
    """Start a throwaway container (testcontainers' reaper removes it when the run ends)."""
    if not _docker_available():
        pytest.exit(
            f"no {kind} reachable (set HERALD_TEST_{'AMQP' if kind == 'RabbitMQ' else 'DATABASE'}_URL or start the"
            " local service) and no Docker engine for testcontainers: integration tests cannot run",
            returncode=3,
        )
    # Imported here: testcontainers is slow to import and only needed when no local service is reachable.
    from testcontainers.community.postgres import PostgresContainer  # noqa: PLC0415
    from testcontainers.community.rabbitmq import RabbitMqContainer  # noqa: PLC0415

    if kind == "RabbitMQ":
        rabbit = RabbitMqContainer("rabbitmq:3.10-management").start()
        return f"amqp://guest:guest@{rabbit.get_container_host_ip()}:{rabbit.get_exposed_port(5672)}/"
    pg = PostgresContainer("postgres:15", driver="asyncpg").start()
    return str(pg.get_connection_url())


@pytest.fixture(scope="session")
def amqp_base_url() -> str:
    url = os.environ.get("HERALD_TEST_AMQP_URL", DEFAULT_AMQP_URL)
    return url if _amqp_reachable(url) else _from_container("RabbitMQ")


@contextmanager
def isolated_vhost(amqp_base_url: str, vhost: str) -> Iterator[str]:
    """Create ``vhost`` (management API, else ``rabbitmqctl``), yield its URL, delete it."""
    parts = urlsplit(amqp_base_url)
    user, password = parts.username or "guest", parts.password or "guest"
    api = f"http://{parts.hostname}:{os.environ.get('HERALD_TEST_RABBIT_MGMT_PORT', '15672')}/api"
    quoted = quote(vhost, safe="")
    try:
        httpx.put(f"{api}/vhosts/{quoted}", auth=(user, password), timeout=10).raise_for_status()
        httpx.put(
            f"{api}/permissions/{quoted}/{user}",
            json={"configure": ".*", "write": ".*", "read": ".*"},
            auth=(user, password),
            timeout=10,
        ).raise_for_status()
        via_api = True
    except httpx.HTTPError:
        subprocess.run(["rabbitmqctl", "add_vhost", vhost], check=True, capture_output=True)
        subprocess.run(
            ["rabbitmqctl", "set_permissions", "-p", vhost, user, ".*", ".*", ".*"], check=True, capture_output=True
        )
        via_api = False
    try:
        yield _with_path(amqp_base_url, "/" + quoted)
    finally:
        if via_api:
            httpx.delete(f"{api}/vhosts/{quoted}", auth=(user, password), timeout=30)
        else:
            subprocess.run(["rabbitmqctl", "delete_vhost", vhost], check=False, capture_output=True)


@contextmanager
def isolated_database(database_base_url: str, name: str) -> Iterator[str]:
    """Create database ``name``, yield its URL, drop it."""

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(_asyncpg_dsn(database_base_url))
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield _with_path(database_base_url, "/" + name)
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def amqp_url(amqp_base_url: str) -> Iterator[str]:
    """A fresh vhost for this test session, deleted afterwards."""
    with isolated_vhost(amqp_base_url, f"herald-test-{RUN_ID}") as url:
        yield url


@pytest.fixture(scope="session")
def database_base_url() -> str:
    url = os.environ.get("HERALD_TEST_DATABASE_URL", DEFAULT_DATABASE_URL)
    return url if asyncio.run(_postgres_reachable(url)) else _from_container("PostgreSQL")


@pytest.fixture(scope="session")
def database_url(database_base_url: str) -> Iterator[str]:
    """A fresh database for this test session, dropped afterwards."""
    with isolated_database(database_base_url, f"herald_test_{RUN_ID}") as url:
        yield url
