"""The local starter: ports it picks cannot be taken by anyone else, a restarted process comes back on its port,
and a process that cannot start is reported with its output."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import pytest

from herald.contracts.platform import Platform
from herald.operator.local import Process, sandbox_process
from herald.operator.local_starter import LocalStarter, NotReady
from tests.support.eventually import PROCESS_READY_SECONDS


def _bind(port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as other:
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        other.bind(("127.0.0.1", port))


async def test_a_port_is_held_from_the_moment_it_is_picked_and_kept_across_a_restart(tmp_path: Path) -> None:
    starter = LocalStarter(logs=tmp_path)
    port = starter.reserve_port()
    with pytest.raises(OSError, match="in use"):  # reserved, not yet served: still nobody else's
        _bind(port)
    sandbox = starter.add(sandbox_process(Platform.X, port))
    try:
        starter.start_all()
        with pytest.raises(OSError, match="in use"):  # handed over: the child holds it
            _bind(port)
        await starter.wait_ready(within=PROCESS_READY_SECONDS)

        starter.kill(sandbox.name)
        async with httpx.AsyncClient(timeout=5) as client:
            with pytest.raises(httpx.ConnectError):  # a dead process's port refuses connections
                await client.get(f"{sandbox.url}/healthz")
            await starter.restart(sandbox.name)
            assert (await client.get(f"{sandbox.url}/healthz")).status_code == 200
        assert sandbox.url == f"http://127.0.0.1:{port}"
        assert "===== SIGKILL sandbox-x" in starter.output(sandbox.name)
    finally:
        starter.stop()


async def test_a_process_that_exits_is_reported_with_its_output(tmp_path: Path) -> None:
    starter = LocalStarter(logs=tmp_path)
    starter.add(Process("broken", starter.reserve_port(), "herald.no_such_service"))
    try:
        starter.start_all()
        with pytest.raises(NotReady, match=r"No module named herald\.no_such_service"):
            await starter.wait_ready(within=PROCESS_READY_SECONDS)
    finally:
        starter.stop()
