"""Start processes of the local topology (:mod:`herald.operator.local`) and wait until they are ready.

One starter serves ``make run``, the end-to-end tests, the chaos tests and the benchmark.

Ports cannot collide. The starter binds and listens on each process's socket itself (port 0: the kernel picks a
free port) and hands the listening socket to the child (``HERALD_HTTP_FD`` for a service, ``--fd`` for a
sandbox), so a port is held from the moment it is chosen: no other process can take it before the child serves
on it. The starter closes its own copy once the child has it, so a process that dies leaves a port that refuses
connections, as any dead server's does. A restart must come back on the same port (the other processes know it):
the starter binds it again, retrying for a while if something else holds it meanwhile.
"""

from __future__ import annotations

import asyncio
import errno
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

from herald.contracts.platform import Platform
from herald.operator.local import Ports, Process
from herald.operator.seaweedfs import SeaweedPorts

HOST = "127.0.0.1"
FD_ENV = "HERALD_HTTP_FD"
READY_TIMEOUT_SECONDS = 120.0
STOP_TIMEOUT_SECONDS = 30.0
REBIND_SECONDS = 30.0
"""How long a restart waits for its port while something else holds it."""
PROBE_TIMEOUT_SECONDS = 2.0
PROBE_INTERVAL_SECONDS = 0.2


class NotReady(RuntimeError):
    """A process exited, or did not answer its readiness probe in time (the message ends with its output)."""


def listening_socket(port: int = 0) -> socket.socket:
    """A TCP socket bound to ``127.0.0.1:port`` and listening; ``0``: a free port the kernel picks."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        # what uvicorn sets too: the port of a killed server can be bound again while its connections linger
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((HOST, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    return sock


async def wait_until_ready(
    probes: Mapping[str, str],
    *,
    within: float = READY_TIMEOUT_SECONDS,
    check: Callable[[], None] = lambda: None,
    describe: Callable[[str], str] = lambda _name: "",
) -> None:
    """Until every probe URL (by process name) answers 200. ``check`` runs between attempts and raises if
    something the wait depends on has failed (a process exited); ``describe`` adds a process's output to an error."""
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(timeout=PROBE_TIMEOUT_SECONDS) as client:
        for name, url in probes.items():
            while True:
                check()
                try:
                    if (await client.get(url)).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise NotReady(f"{name} ({url}) not ready within {within:.0f} s{describe(name)}")
                await asyncio.sleep(PROBE_INTERVAL_SECONDS)


@dataclass
class Child:
    """One process under the starter: what it runs and, while it runs, its ``Popen``."""

    name: str
    """Unique under the starter: ``publisher-x``, or ``publisher-x#2`` for a second replica."""
    entry: Process
    proc: subprocess.Popen[bytes] | None = None

    @property
    def service(self) -> str:
        return self.entry.name

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.entry.port}"

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


@dataclass
class LocalStarter:
    """Starts, kills, restarts and stops processes of the local topology, and waits for their readiness.

    ``logs``: each process appends its output to ``<logs>/<name>.log`` (so a killed process's output survives its
    restart); ``None``: its output is a pipe (``child.proc.stdout``) for the caller to read.
    """

    logs: Path | None = None
    cwd: Path | None = None
    rebind_seconds: float = REBIND_SECONDS
    children: dict[str, Child] = field(default_factory=dict)
    _held: dict[int, socket.socket] = field(default_factory=dict, repr=False)

    # -- planning ---------------------------------------------------------------------------------------------------

    def reserve_port(self) -> int:
        """A free port, held (bound and listening) by the starter until the process planned on it starts."""
        sock = listening_socket()
        port = int(sock.getsockname()[1])
        self._held[port] = sock
        return port

    def reserve_ports(self) -> Ports:
        """A port for every process of the topology, each held until its process starts; but the object store's:
        SeaweedFS binds its own ports, so they are only free when chosen (if one is taken meanwhile, SeaweedFS
        exits and :meth:`wait_ready` says so)."""
        return Ports(
            scheduler=self.reserve_port(),
            tokens=self.reserve_port(),
            audit=self.reserve_port(),
            media=self.reserve_port(),
            publishers={p: self.reserve_port() for p in Platform},
            sandboxes={p: self.reserve_port() for p in Platform},
            objectstore=SeaweedPorts.free(),
        )

    def add(self, entry: Process, name: str | None = None) -> Child:
        """Plan ``entry`` (under ``name``, default its own) without starting it."""
        child = Child(name or entry.name, entry)
        assert child.name not in self.children, f"{child.name} is planned twice"
        self.children[child.name] = child
        return child

    def add_all(self, entries: Iterable[Process]) -> None:
        for entry in entries:
            self.add(entry)

    # -- lifecycle --------------------------------------------------------------------------------------------------

    def log_path(self, name: str) -> Path:
        assert self.logs is not None, "this starter pipes output instead of writing logs"
        return self.logs / f"{name.replace('#', '-')}.log"

    def output(self, name: str, tail: int = 4000) -> str:
        """The end of a process's log (empty when output is piped or nothing was written)."""
        if self.logs is None or not self.log_path(name).exists():
            return ""
        return self.log_path(name).read_text(errors="replace")[-tail:]

    def _note(self, name: str, text: str) -> None:
        if self.logs is not None:
            with self.log_path(name).open("ab") as log:
                log.write(f"\n===== {text} {name} at {time.strftime('%H:%M:%S')} =====\n".encode())

    def _socket_for(self, entry: Process) -> socket.socket:
        held = self._held.pop(entry.port, None)
        if held is not None:
            return held
        deadline = time.monotonic() + self.rebind_seconds
        while True:
            try:
                return listening_socket(entry.port)
            except OSError as error:
                if error.errno != errno.EADDRINUSE or time.monotonic() > deadline:
                    raise OSError(
                        error.errno, f"{entry.name}: port {entry.port} is in use ({error.strerror})"
                    ) from None
                time.sleep(PROBE_INTERVAL_SECONDS)

    def start(self, name: str) -> None:
        """Start a planned process on its socket; its output goes to its log (or a pipe)."""
        child = self.children[name]
        assert not child.alive, f"{name} is already running"
        entry = child.entry
        env = {**os.environ, "HERALD_HTTP_PORT": str(entry.port), "HERALD_SERVICE_NAME": child.service, **entry.env}
        argv = [sys.executable, "-m", entry.module, *entry.args]  # our own interpreter and modules
        sock = None if entry.binds_itself else self._socket_for(entry)
        if sock is not None:
            if entry.fd_option is None:
                env[FD_ENV] = str(sock.fileno())
            else:
                argv += [entry.fd_option, str(sock.fileno())]
        self._note(name, "start")
        try:
            with ExitStack() as files:
                out: IO[bytes] | int = subprocess.PIPE
                if self.logs is not None:
                    out = files.enter_context(self.log_path(name).open("ab"))
                child.proc = subprocess.Popen(  # noqa: S603
                    argv,
                    env=env,
                    cwd=self.cwd,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    pass_fds=() if sock is None else (sock.fileno(),),
                )
        finally:
            if sock is not None:
                sock.close()  # the child holds the port now; once it dies, the port refuses connections

    def start_all(self) -> None:
        for name in self.children:
            self.start(name)

    def kill(self, name: str) -> None:
        """SIGKILL: no graceful shutdown, in-flight work is abandoned mid-call."""
        child = self.children[name]
        assert child.proc is not None, f"{name} was never started"
        assert child.alive, f"{name} is not running"
        child.proc.send_signal(signal.SIGKILL)
        child.proc.wait(timeout=10)
        self._note(name, "SIGKILL")

    def terminate(self, name: str, timeout: float = STOP_TIMEOUT_SECONDS) -> int:
        """SIGTERM one process and wait for it to exit; its exit status (``-SIGTERM`` if it re-raised the signal)."""
        child = self.children[name]
        assert child.proc is not None, f"{name} was never started"
        child.proc.send_signal(signal.SIGTERM)
        return child.proc.wait(timeout=timeout)

    async def restart(self, name: str) -> None:
        """Start a process that has exited again (on its own port) and wait until it is ready."""
        self.start(name)
        await self.wait_ready([name])

    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
        """SIGTERM every process (services finish or requeue in-flight messages); kill what outlasts ``timeout``."""
        for child in self.children.values():
            if child.alive and child.proc is not None:
                child.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for child in self.children.values():
            if child.proc is None:
                continue
            try:
                child.proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                child.proc.kill()
                child.proc.wait(timeout=10)
        for sock in self._held.values():
            sock.close()
        self._held.clear()

    async def wait_ready(self, names: Iterable[str] | None = None, within: float = READY_TIMEOUT_SECONDS) -> None:
        """Until every named process (default: all) answers its readiness probe; fails as soon as one exits."""
        waited = [self.children[name] for name in (names if names is not None else self.children)]

        def check() -> None:
            for child in waited:
                if not child.alive:
                    raise NotReady(f"{child.name} is not running{self._describe(child.name)}")

        probes = {child.name: child.url + child.entry.ready_path for child in waited}
        await wait_until_ready(probes, within=within, check=check, describe=self._describe)

    def _describe(self, name: str) -> str:
        output = self.output(name)
        return f":\n{output}" if output else ""

    # -- addresses --------------------------------------------------------------------------------------------------

    def url(self, name: str) -> str:
        return self.children[name].url

    def pids(self) -> dict[str, int]:
        return {name: child.proc.pid for name, child in self.children.items() if child.proc is not None}
