"""Run every Herald process in the foreground with prefixed logs: ``make run``.

Reads ``deploy/local/Procfile`` (name, port, command). Ctrl-C or SIGTERM stops everything cleanly: each process
gets SIGTERM (services finish or requeue in-flight messages) and is killed only if it has not exited in time.
"""

from __future__ import annotations

import os
import selectors
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROCFILE = Path(__file__).with_name("Procfile")
STOP_TIMEOUT_SECONDS = 30
COLOURS = ["\033[36m", "\033[33m", "\033[35m", "\033[32m", "\033[34m", "\033[31m", "\033[96m", "\033[93m"]
RESET = "\033[0m"


def read_procfile() -> list[tuple[str, int, str]]:
    entries = []
    for line in PROCFILE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, port, command = line.split(maxsplit=2)
            entries.append((name, int(port), command))
    return entries


def main() -> int:
    entries = read_procfile()
    width = max(len(name) for name, _, _ in entries)
    tty = sys.stdout.isatty()
    procs: dict[str, subprocess.Popen[bytes]] = {}
    selector = selectors.DefaultSelector()
    for i, (name, port, command) in enumerate(entries):
        env = {**os.environ, "PORT": str(port), "HERALD_HTTP_PORT": str(port), "HERALD_SERVICE_NAME": name}
        argv = [sys.executable if a == "python" else a for a in shlex.split(command.replace("$PORT", str(port)))]
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        procs[name] = proc
        prefix = f"{COLOURS[i % len(COLOURS)] if tty else ''}{name:<{width}} |{RESET if tty else ''} "
        assert proc.stdout is not None
        selector.register(proc.stdout, selectors.EVENT_READ, prefix)

    print("Herald is starting. APIs:", flush=True)
    for name, port, _ in entries:
        print(f"  {name:<{width}}  http://127.0.0.1:{port}   (/docs, /healthz, /readyz, /metrics)", flush=True)
    print("Press Ctrl-C to stop everything.\n", flush=True)

    stopping = False

    def request_stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    while not stopping and any(p.poll() is None for p in procs.values()):
        for key, _ in selector.select(timeout=0.2):
            line = key.fileobj.readline()  # type: ignore[union-attr]
            if line:
                sys.stdout.write(key.data + line.decode(errors="replace"))
                sys.stdout.flush()
        for name, proc in procs.items():
            if proc.poll() is not None and not stopping:
                print(f"{name} exited with code {proc.returncode}; stopping everything", flush=True)
                stopping = True

    for proc in procs.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
    for name, proc in procs.items():
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            print(f"{name} did not stop in time; killing it", flush=True)
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            rest = proc.stdout.read().decode(errors="replace")
            for line in rest.splitlines():
                print(f"{name:<{width}} | {line}", flush=True)
    print("Herald stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
