"""Run every Herald process in the foreground with prefixed logs: ``make run``.

The process table is :func:`herald.operator.local.topology`: the three platform sandboxes, then the services, wired
together with fresh development credentials for this run (each publisher gets its own token-service credential).
Ctrl-C or SIGTERM stops everything cleanly: each process gets SIGTERM (services finish or requeue in-flight messages)
and is killed only if it has not exited in time.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import selectors
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from herald.operator.local import Process, topology

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


def dev_key_file() -> Path:
    """A development encryption key kept in ``run/`` (git-ignored), so stored tokens survive a restart."""
    path = ROOT / "run" / "dev-token-keys.json"
    if not path.exists():
        path.parent.mkdir(exist_ok=True)
        key = base64.b64encode(secrets.token_bytes(32)).decode()
        path.write_text(json.dumps({"primary": "dev1", "keys": {"dev1": key}}))
        path.chmod(0o600)
    return path


def monitoring(entries: list[Process]) -> list[Process]:
    """A local Prometheus scraping every service and RabbitMQ's plugin, when the prometheus binary is installed."""
    if shutil.which("prometheus") is None:
        return []
    targets = [
        arg
        for entry in entries
        if not entry.name.startswith("sandbox-")
        for arg in ("--target", f"{entry.name}=127.0.0.1:{entry.port}")
    ]
    rules, data = ROOT / "deploy" / "prometheus" / "rules", ROOT / "run" / "prometheus"
    args = (*targets, "--rules", str(rules), "--data", str(data), "--port", "9090")
    return [Process("prometheus", 9090, "herald.operator.local_prometheus", args)]


class Supervisor:
    """Starts the processes, interleaves their output with coloured prefixes, and stops them all together."""

    def __init__(self, entries: list[Process]) -> None:
        self.entries = entries
        self.width = max(len(p.name) for p in entries)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.selector = selectors.DefaultSelector()
        self.stopping = False

    def start(self) -> None:
        tty = sys.stdout.isatty()
        for i, entry in enumerate(self.entries):
            env = {**os.environ, "HERALD_HTTP_PORT": str(entry.port), "HERALD_SERVICE_NAME": entry.name, **entry.env}
            argv = [sys.executable, "-m", entry.module, *entry.args]  # our own modules, no user input
            proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # noqa: S603
            self.procs[entry.name] = proc
            colour, reset = (COLOURS[i % len(COLOURS)], RESET) if tty else ("", "")
            assert proc.stdout is not None
            self.selector.register(proc.stdout, selectors.EVENT_READ, f"{colour}{entry.name:<{self.width}} |{reset} ")

    def pump(self) -> None:
        """Copy output until a stop is requested or any process exits."""
        while not self.stopping:
            for key, _ in self.selector.select(timeout=0.2):
                line = key.fileobj.readline()  # type: ignore[union-attr]
                if line:
                    sys.stdout.write(key.data + line.decode(errors="replace"))
                    sys.stdout.flush()
            for name, proc in self.procs.items():
                if proc.poll() is not None and not self.stopping:
                    print(f"{name} exited with code {proc.returncode}; stopping everything", flush=True)
                    self.stopping = True

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        for name, proc in self.procs.items():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                print(f"{name} did not stop in time; killing it", flush=True)
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                for line in proc.stdout.read().decode(errors="replace").splitlines():
                    print(f"{name:<{self.width}} | {line}", flush=True)


def main() -> int:
    entries = topology(dev_key_file())
    supervisor = Supervisor([*entries, *monitoring(entries)])

    def request_stop(_signum: int, _frame: object) -> None:
        supervisor.stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    supervisor.start()
    print("Herald is starting:", flush=True)
    for entry in supervisor.entries:
        hint = "" if entry.name == "prometheus" else "   (/docs, /healthz)"
        print(f"  {entry.name:<{supervisor.width}}  http://127.0.0.1:{entry.port}{hint}", flush=True)
    print(QUICKSTART, flush=True)
    supervisor.pump()
    supervisor.stop()
    print("Herald stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
