"""Serve a sandbox app on a host and port, or on a listening socket inherited from the process that started it."""

from __future__ import annotations

import contextlib
import socket
import sys
from typing import Any

import uvicorn
from uvicorn.config import STARTUP_FAILURE


def serve(app: Any, host: str, port: int, fd: int | None = None) -> None:
    """Serve until SIGTERM/SIGINT. ``fd``: a bound, listening socket handed over by the local starter
    (``herald.operator.local_starter``), so the port was held from the moment it was chosen."""
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
    # socket.socket(fileno=...) detects the family itself (uvicorn's own ``fd`` option would label it AF_UNIX)
    sockets = None if fd is None else [socket.socket(fileno=fd)]
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises a captured Ctrl-C once it has shut down
        server.run(sockets=sockets)
    if not server.started:
        sys.exit(STARTUP_FAILURE)
