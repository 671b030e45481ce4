"""Serve an ASGI app over real HTTP on a loopback port, in a background thread.

Ports are never picked by binding a socket and releasing it (another process may take the port before the server
binds it): :func:`reserve_port` keeps the listening socket it bound until :func:`serve` serves on it, which is what an
app that must know its own address before it starts needs (an OAuth callback URL); :func:`serve` without a port
serves on a port the kernel picks for it.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from herald.operator.local_starter import listening_socket

START_TIMEOUT_SECONDS = 10
_reserved: dict[int, socket.socket] = {}


def reserve_port() -> int:
    """A port the kernel picks, held (bound and listening) until :func:`serve` is given it."""
    sock = listening_socket()
    port = int(sock.getsockname()[1])
    _reserved[port] = sock
    return port


@contextmanager
def closed_port() -> Iterator[int]:
    """A port that refuses connections (bound, never listening), held for the block so no server can take it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


class _Server(uvicorn.Server):
    """Says when it is serving, so the caller waits on an event instead of polling."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.serving = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            self.serving.set()


@contextmanager
def serve(app: Any, port: int | None = None) -> Iterator[str]:
    """Yield the base URL (``http://127.0.0.1:PORT``) while ``app`` is served; ``port`` from :func:`reserve_port`."""
    sock = _reserved.pop(port) if port is not None else listening_socket()
    address = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = _Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        if not server.serving.wait(START_TIMEOUT_SECONDS):
            raise RuntimeError(f"test server did not start within {START_TIMEOUT_SECONDS} s")
        yield address
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
