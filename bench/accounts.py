"""Connect the benchmark's accounts through the real OAuth flow: several per platform, so no single account's
limits shape the figures."""

from __future__ import annotations

import asyncio
import time

from bench.client import Account, HeraldApi
from bench.database import Database
from herald.contracts.platform import Platform

KNOWN_TIMEOUT_SECONDS = 60


async def connect_all(api: HeraldApi, db: Database, per_platform: int, run_id: str) -> list[Account]:
    """X and LinkedIn: one consent per account (a separate sandbox user each). Meta: one consent by a user who
    manages ``per_platform`` Pages (one account per Page). Returns once the scheduler knows every account."""
    accounts: list[Account] = []
    for platform in (Platform.X, Platform.LINKEDIN):
        for i in range(per_platform):
            accounts += await api.connect(platform, f"bench-{run_id}-{platform.value}-{i}")
    accounts += (await api.connect(Platform.META, None))[:per_platform]
    deadline = time.monotonic() + KNOWN_TIMEOUT_SECONDS
    while await db.known_accounts(api.team_id) < len(accounts):  # the scheduler learns them from events
        if time.monotonic() > deadline:
            raise RuntimeError("the scheduler did not learn about every connected account in time")
        await asyncio.sleep(0.2)
    return interleave(accounts)


def interleave(accounts: list[Account]) -> list[Account]:
    """Order accounts X, LinkedIn, Meta, X, ... so consecutive distributions hit different platforms."""
    by_platform = {p: [a for a in accounts if a.platform is p] for p in Platform}
    ordered: list[Account] = []
    for i in range(max((len(v) for v in by_platform.values()), default=0)):
        ordered += [group[i] for group in by_platform.values() if i < len(group)]
    return ordered
