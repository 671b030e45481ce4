"""Run every Herald process in the foreground with prefixed logs: ``make run``.

The process table is :func:`herald.operator.local.topology`: the object store (SeaweedFS, data in ``run/objectstore``)
and the three platform sandboxes, then the services, wired
together with fresh development credentials for this run (each publisher gets its own token-service credential).
Ctrl-C or SIGTERM stops everything cleanly: each process gets SIGTERM (services finish or requeue in-flight messages)
and is killed only if it has not exited in time.
"""

from __future__ import annotations

import asyncio
import selectors
import shutil
import signal
import sys
import threading
from pathlib import Path

from herald.operator.local import Process, topology, write_key_ring
from herald.operator.local_starter import LocalStarter, NotReady

ROOT = Path(__file__).resolve().parents[2]
STOP_TIMEOUT_SECONDS = 30
COLOURS = ["\033[36m", "\033[33m", "\033[35m", "\033[32m", "\033[34m", "\033[31m", "\033[96m", "\033[93m"]
RESET = "\033[0m"
QUICKSTART = """
Quickstart (in a second terminal):  make demo
  or by hand (see the README's quickstart):
    curl -s -X POST http://127.0.0.1:8001/v1/admin/api-keys \\
         -H 'X-Herald-Bootstrap-Secret: dev-bootstrap-secret'
Press Ctrl-C to stop everything.
"""
READY = "Herald is ready: every service answers /readyz."
HINTS = {"prometheus": "", "objectstore": "   (S3 API; data in run/objectstore)"}


def dev_key_file() -> Path:
    """A development encryption key kept in ``run/`` (git-ignored), so stored tokens survive a restart."""
    path = ROOT / "run" / "dev-token-keys.json"
    if not path.exists():
        path.parent.mkdir(exist_ok=True)
        write_key_ring(path, "dev1")
    return path


def monitoring(entries: list[Process]) -> list[Process]:
    """A local Prometheus scraping every service and RabbitMQ's plugin, when the prometheus binary is installed."""
    if shutil.which("prometheus") is None:
        return []
    targets = [
        arg
        for entry in entries
        if not entry.name.startswith("sandbox-") and entry.name != "objectstore"  # no Herald /metrics there
        for arg in ("--target", f"{entry.name}=127.0.0.1:{entry.port}")
    ]
    rules, data = ROOT / "deploy" / "prometheus" / "rules", ROOT / "run" / "prometheus"
    args = (*targets, "--rules", str(rules), "--data", str(data), "--port", "9090")
    return [
        Process("prometheus", 9090, "herald.operator.local_prometheus", args, ready_path="/-/ready", binds_itself=True)
    ]


class Supervisor:
    """Starts the processes (through the local starter), interleaves their output with coloured prefixes, says when
    everything is ready, and stops them all together."""

    def __init__(self, entries: list[Process]) -> None:
        # fixed ports: if one is taken (another `make run`?), say so at once instead of waiting for it
        self.starter = LocalStarter(cwd=ROOT, rebind_seconds=0)
        self.starter.add_all(entries)
        self.width = max(len(p.name) for p in entries)
        self.selector = selectors.DefaultSelector()
        self.stopping = False

    def start(self) -> None:
        tty = sys.stdout.isatty()
        for i, (name, child) in enumerate(self.starter.children.items()):
            self.starter.start(name)
            assert child.proc is not None
            assert child.proc.stdout is not None
            colour, reset = (COLOURS[i % len(COLOURS)], RESET) if tty else ("", "")
            self.selector.register(child.proc.stdout, selectors.EVENT_READ, f"{colour}{name:<{self.width}} |{reset} ")
        threading.Thread(target=self._announce_ready, daemon=True).start()

    def _announce_ready(self) -> None:
        try:
            asyncio.run(self.starter.wait_ready())
        except NotReady:
            return  # the process that exited stops everything (see pump)
        print(READY, flush=True)

    def pump(self) -> None:
        """Copy output until a stop is requested or any process exits."""
        while not self.stopping:
            for key, _ in self.selector.select(timeout=0.2):
                line = key.fileobj.readline()  # type: ignore[union-attr]
                if line:
                    sys.stdout.write(key.data + line.decode(errors="replace"))
                    sys.stdout.flush()
            for name, child in self.starter.children.items():
                if child.proc is not None and child.proc.poll() is not None and not self.stopping:
                    print(f"{name} exited with code {child.proc.returncode}; stopping everything", flush=True)
                    self.stopping = True

    def stop(self) -> None:
        self.starter.stop(STOP_TIMEOUT_SECONDS)
        for name, child in self.starter.children.items():
            if child.proc is not None and child.proc.stdout is not None:
                for line in child.proc.stdout.read().decode(errors="replace").splitlines():
                    print(f"{name:<{self.width}} | {line}", flush=True)


def main() -> int:
    entries = topology(dev_key_file())
    supervisor = Supervisor([*entries, *monitoring(entries)])

    def request_stop(_signum: int, _frame: object) -> None:
        supervisor.stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        supervisor.start()
    except OSError as error:  # a fixed port is taken
        print(f"cannot start Herald: {error}", flush=True)
        supervisor.stop()
        return 1
    print("Herald is starting:", flush=True)
    for entry in (child.entry for child in supervisor.starter.children.values()):
        hint = HINTS.get(entry.name, "   (/docs, /healthz)")
        print(f"  {entry.name:<{supervisor.width}}  http://127.0.0.1:{entry.port}{hint}", flush=True)
    print(QUICKSTART, flush=True)
    supervisor.pump()
    supervisor.stop()
    print("Herald stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
