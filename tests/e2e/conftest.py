"""The whole of Herald as real processes (every service and the three sandboxes) on free ports, with a vhost and a
database of its own on the real RabbitMQ and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from herald.contracts.platform import Platform
from herald.operator.local import Ports, topology, write_key_ring
from herald.operator.local_starter import LocalStarter
from tests.conftest import isolated_database, isolated_vhost

TIERS_MS = (300, 600, 1200)


@dataclass
class Herald:
    """Where each part of a running Herald is, plus a client for its APIs."""

    ports: Ports
    starter: LocalStarter

    def url(self, service: str) -> str:
        port = getattr(self.ports, service)
        return f"http://127.0.0.1:{port}"

    def sandbox(self, platform: Platform) -> str:
        return f"http://127.0.0.1:{self.ports.sandboxes[platform]}"

    def publisher(self, platform: Platform) -> str:
        return f"http://127.0.0.1:{self.ports.publishers[platform]}"

    def output(self, name: str) -> str:
        return self.starter.output(name, tail=1_000_000)


@pytest.fixture(scope="module")
def herald_env(
    amqp_base_url: str, database_base_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[dict[str, str], Path]]:
    run = uuid.uuid4().hex[:8]
    workdir = tmp_path_factory.mktemp("herald-e2e")
    key_file = write_key_ring(workdir / "keys.json", "e2e")
    with (
        isolated_vhost(amqp_base_url, f"herald-e2e-{run}") as amqp_url,
        isolated_database(database_base_url, f"herald_e2e_{run}") as database_url,
    ):
        env = {"HERALD_AMQP_URL": amqp_url, "HERALD_DATABASE_URL": database_url, "HERALD_LOG_LEVEL": "INFO"}
        yield env, key_file


@pytest.fixture(scope="module")
async def herald(
    herald_env: tuple[dict[str, str], Path], tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Herald]:
    env, key_file = herald_env
    starter = LocalStarter(logs=tmp_path_factory.mktemp("logs"))
    ports = starter.reserve_ports()
    starter.add_all(topology(key_file, ports, retry_tiers_ms=TIERS_MS, common_env=env))
    try:
        starter.start_all()
        await starter.wait_ready()
        yield Herald(ports, starter)
    finally:
        starter.stop()


class Api:
    """A team's view of Herald's public APIs."""

    def __init__(self, herald: Herald, client: httpx.AsyncClient) -> None:
        self.herald = herald
        self.client = client

    async def json(self, method: str, url: str, **kwargs: Any) -> Any:
        response = await self.client.request(method, url, **kwargs)
        assert response.status_code < 300, f"{method} {url}: {response.status_code} {response.text}"
        return response.json()


@pytest.fixture(scope="module")
async def api(herald: Herald) -> AsyncIterator[Api]:
    """A new team (an API key made with the bootstrap secret) on this module's Herald."""
    async with httpx.AsyncClient(timeout=30) as anonymous:
        response = await anonymous.post(
            f"{herald.url('scheduler')}/v1/admin/api-keys",
            headers={"X-Herald-Bootstrap-Secret": "dev-bootstrap-secret"},
            json={"name": "e2e"},
        )
        assert response.status_code == 201, response.text
        key = response.json()["api_key"]
    async with httpx.AsyncClient(timeout=30, headers={"Authorization": f"Bearer {key}"}) as client:
        yield Api(herald, client)
