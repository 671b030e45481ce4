"""The machine a run measured: hardware, interpreter and the versions of the broker and the database."""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil

from bench.database import asyncpg_dsn


def base_interpreter() -> str:
    """The interpreter Herald runs on: the base of this project's virtual environment (the Celery peer gets a virtual
    environment of its own on it). Interpreter builds differ in speed (docs/performance.md), so runs record it."""
    return getattr(sys, "_base_executable", sys.executable)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


async def rabbitmq_version(management_url: str, auth: tuple[str, str]) -> str:
    try:
        async with httpx.AsyncClient(timeout=5) as client:
            response = await client.get(f"{management_url}/api/overview", auth=auth)
        return str(response.json().get("rabbitmq_version", "unknown"))
    except (httpx.HTTPError, ValueError):
        return "unknown (management API unreachable)"


async def postgres_settings(database_url: str) -> tuple[str, str]:
    """The server's version, and whether it runs autovacuum (some machines of this kind run it off)."""
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        return str(await conn.fetchval("SHOW server_version")), str(await conn.fetchval("SHOW autovacuum"))
    finally:
        await conn.close()


async def describe(database_url: str, management_url: str, auth: tuple[str, str]) -> dict[str, Any]:
    load = os.getloadavg()
    version, autovacuum = await postgres_settings(database_url)
    return {
        "cpu_model": cpu_model(),
        "cores": psutil.cpu_count(logical=True),
        "physical_cores": psutil.cpu_count(logical=False),
        "memory_gib": round(psutil.virtual_memory().total / 1024**3, 1),
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "python_executable": base_interpreter(),
        "rabbitmq": await rabbitmq_version(management_url, auth),
        "postgresql": version,
        "postgresql_autovacuum": autovacuum,
        "load_average_at_start": [round(x, 2) for x in load],
    }
