"""Fault scenarios against the whole of Herald as real processes (``make chaos``; not part of ``make test``).

One deployment runs at a time: every service once (most scenarios), or every service twice (the replica
scenario); each has its own vhost on the real RabbitMQ and its own database on the real PostgreSQL. Before each
scenario, processes a previous scenario left dead are restarted and the sandboxes forget their posts, faults and
counters, so each scenario's figures are its own. The figures of every scenario are printed as they are measured
and again in the session summary.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from herald.contracts.platform import Platform
from herald.operator.local import write_key_ring
from tests.chaos.batch import Figures, Target
from tests.chaos.client import Sandboxes, Team
from tests.chaos.stack import Stack, tuning
from tests.conftest import isolated_database, isolated_vhost

FIGURES: list[Figures] = []
X_ACCOUNTS = ("chaos-x-1", "chaos-x-2", "chaos-x-3")
LINKEDIN_MEMBERS = ("chaos-li-1", "chaos-li-2")
INSTAGRAM = "instagram"
"""The surface of a Meta account that is an Instagram professional account (``herald.contracts.media.Surface``)."""


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "chaos: fault scenarios on the whole stack as processes (make chaos)")


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """The scenarios restart this machine's RabbitMQ and PostgreSQL and take minutes: they are collected only when
    selected with ``-m chaos`` (``make chaos``), never by a plain ``pytest`` of the whole tree (``make test``)."""
    if "chaos" in (config.getoption("markexpr") or ""):
        return None
    return collection_path.suffix == ".py" and collection_path.name.startswith("test_")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if FIGURES:
        terminalreporter.section("chaos figures")
        for figures in FIGURES:
            terminalreporter.write_line(figures.line())


@dataclass
class Deployment:
    """A running Herald with one team, its connected accounts, and the sandboxes' control API."""

    stack: Stack
    team: Team
    sandboxes: Sandboxes
    amqp_url: str
    database_url: str
    replicas: int
    targets: list[Target] = field(default_factory=list)
    """The accounts of the text batches: X, LinkedIn members, Facebook Pages (never Instagram: it needs media)."""
    instagram: list[Target] = field(default_factory=list)
    """Instagram accounts linked to the connected Pages (Meta accounts on the Instagram surface)."""

    def record(self, figures: Figures) -> None:
        FIGURES.append(figures)

    def default_batch(self, per_x: int = 10, per_linkedin: int = 15, per_meta: int = 15) -> list[tuple[Target, int]]:
        """90 posts by default: 3 X accounts x 10, 2 LinkedIn members x 15, 2 Facebook Pages x 15."""
        per = {Platform.X: per_x, Platform.LINKEDIN: per_linkedin, Platform.META: per_meta}
        return [(t, per[t.platform]) for t in self.targets]

    async def connect(self, platform: Platform, account: str | None = None) -> list[Target]:
        """Connect through the OAuth flow; the accounts that can publish text (not Instagram ones)."""
        return [t for t, surface in await self.connect_surfaces(platform, account) if surface != INSTAGRAM]

    async def connect_surfaces(self, platform: Platform, account: str | None = None) -> list[tuple[Target, str]]:
        """Every account the OAuth flow connects, with its surface (a Meta connect adds the Instagram accounts linked
        to the Pages)."""
        connected = await self.team.connect(platform, account)
        return [
            (Target(platform, str(a["id"]), sandbox_account(platform, a, account)), str(a.get("surface") or "default"))
            for a in connected
        ]


def sandbox_account(platform: Platform, account: dict[str, object], consented: str | None) -> str:
    """The name a sandbox files this account's posts under."""
    platform_id = str(account["platform_account_id"])
    if platform is Platform.X:
        assert consented is not None
        return consented
    if platform is Platform.LINKEDIN:
        return platform_id.removeprefix("urn:li:person:")
    return platform_id


class Deployments:
    """Holds the one running deployment; asking for another kind stops the current one first."""

    def __init__(self, amqp_base_url: str, database_base_url: str, workdir: Path) -> None:
        self.amqp_base_url = amqp_base_url
        self.database_base_url = database_base_url
        self.workdir = workdir
        self.current: Deployment | None = None
        self._resources = ExitStack()

    async def get(self, replicas: int) -> Deployment:
        if self.current is not None and self.current.replicas == replicas:
            return self.current
        await self.stop()
        run = uuid.uuid4().hex[:8]
        # The helpers are synchronous (the database one runs its own event loop): enter and leave them in a thread.
        amqp_url = await asyncio.to_thread(
            self._resources.enter_context, isolated_vhost(self.amqp_base_url, f"herald-chaos-{run}")
        )
        database_url = await asyncio.to_thread(
            self._resources.enter_context, isolated_database(self.database_base_url, f"herald_chaos_{run}")
        )
        workdir = self.workdir / f"stack-{replicas}-{run}"
        workdir.mkdir(parents=True)
        key = write_key_ring(workdir / "keys.json", "chaos")
        stack = Stack.plan(key, workdir, tuning(amqp_url, database_url), replicas=replicas)
        print(f"chaos: logs of the {replicas}-replica stack in {workdir}")
        stack.start_all()
        try:
            await stack.wait_ready()
            team = await Team.create(stack)
        except BaseException:
            stack.stop_all()
            await asyncio.to_thread(self._resources.close)
            raise
        deployment = Deployment(stack, team, Sandboxes(stack), amqp_url, database_url, replicas)
        self.current = deployment
        for account in X_ACCOUNTS:
            deployment.targets += await deployment.connect(Platform.X, account)
        for member in LINKEDIN_MEMBERS:
            deployment.targets += await deployment.connect(Platform.LINKEDIN, member)
        for target, surface in await deployment.connect_surfaces(Platform.META):
            (deployment.instagram if surface == INSTAGRAM else deployment.targets).append(target)
        assert len(deployment.targets) == 7, deployment.targets
        return deployment

    async def stop(self) -> None:
        if self.current is not None:
            await self.current.team.close()
            await self.current.sandboxes.close()
            self.current.stack.stop_all()
            self.current = None
        await asyncio.to_thread(self._resources.close)
        self._resources = ExitStack()


@pytest.fixture(scope="session")
async def deployments(amqp_base_url: str, database_base_url: str) -> AsyncIterator[Deployments]:
    # Not pytest's tmp_path: it keeps only the last few sessions, and the evidence of a failure must outlive them.
    logs = Path(tempfile.gettempdir()) / "herald-chaos" / time.strftime("%Y%m%d-%H%M%S")
    logs.mkdir(parents=True, exist_ok=True)
    holder = Deployments(amqp_base_url, database_base_url, logs)
    try:
        yield holder
    finally:
        await holder.stop()


async def _fresh(deployments: Deployments, replicas: int) -> Deployment:
    deployment = await deployments.get(replicas)
    await deployment.stack.ensure_healthy()
    await deployment.sandboxes.reset()
    return deployment


@pytest.fixture
async def herald(deployments: Deployments) -> Deployment:
    """Every service once, all running and ready, the sandboxes reset."""
    return await _fresh(deployments, replicas=1)


@pytest.fixture
async def herald_replicated(deployments: Deployments) -> Deployment:
    """Every service twice (the sandboxes once), all running and ready, the sandboxes reset."""
    return await _fresh(deployments, replicas=2)
