"""The Celery peer, side by side: the same burst through a plain Celery + RabbitMQ worker, in the same run.

The peer is a fixed reference that lives outside this repository (``../shared/peer-bench`` next to the repo root by
default; ``--peer`` or ``HERALD_BENCH_PEER`` point elsewhere). It is never imported: it runs as its own program in
its own virtual environment, created from its ``requirements.txt`` (and reused while that file is unchanged), against
this run's vhost and database, before Herald starts so that both have a quiet machine. If it is absent or cannot be
set up, the phase is reported as not run, with the reason; the rest of the benchmark goes on.

What it measures (its README): N posts due at one instant; per post a Celery task reads and decrypts the account's
token, POSTs to a fake X server and inserts an audit row, with a quorum queue, publisher confirms and late
acknowledgement. Its figure is N / (t0 to the last audit row), the median of its measured bursts.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.harness import say
from bench.machine import base_interpreter
from bench.stack import ROOT

ENV_VAR = "HERALD_BENCH_PEER"
DEFAULT_LOCATION = ROOT.parent / "shared" / "peer-bench"
"""``../shared/peer-bench`` relative to the repository root."""
SCRIPT = "celery_burst.py"
REQUIREMENTS = "requirements.txt"
SETUP_TIMEOUT_SECONDS = 900


def _unused_port() -> int:
    """A port nothing listens on now. The peer binds its fake X server itself (it is run as it is, so it cannot be
    handed a socket); its run starts at once and nothing else on a bench machine races for ports meanwhile."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


RUN_TIMEOUT_SECONDS = 1800


def locate(option: Path | None) -> Path:
    """Where the peer is: the option, else ``$HERALD_BENCH_PEER``, else ``../shared/peer-bench``."""
    if option is not None:
        return option
    from_env = os.environ.get(ENV_VAR)
    return Path(from_env) if from_env else DEFAULT_LOCATION


def default_venv_root() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "herald-bench"


def venv_python(peer: Path, venv_root: Path) -> Path:
    """The interpreter of the peer's own virtual environment, created from its requirements file if needed.

    The peer runs on the interpreter Herald runs on (the base of this project's virtual environment): interpreter
    builds differ in speed (docs/performance.md), and the comparison is of the two programs. The environment is named
    after a hash of the requirements and of that interpreter, so a change of either gets a fresh one."""
    # The base interpreter, not this project's virtual environment: the peer shares nothing with Herald.
    base = base_interpreter()
    identity = (peer / REQUIREMENTS).read_bytes() + f"\n{base}\n{sys.version}".encode()
    venv = venv_root / f"peer-venv-{hashlib.sha256(identity).hexdigest()[:12]}"
    python = venv / "bin" / "python"
    if (venv / ".complete").exists() and python.exists():
        return python
    say(f"peer: creating its virtual environment in {venv} from {peer / REQUIREMENTS}")
    venv_root.mkdir(parents=True, exist_ok=True)
    subprocess.run([base, "-m", "venv", "--clear", str(venv)], check=True, timeout=SETUP_TIMEOUT_SECONDS)  # noqa: S603
    subprocess.run(  # noqa: S603 - the peer's own pinned requirements
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r", str(peer / REQUIREMENTS)],
        check=True,
        timeout=SETUP_TIMEOUT_SECONDS,
    )
    (venv / ".complete").write_text("ok\n")
    return python


def not_run(peer: Path, reason: str) -> dict[str, Any]:
    say(f"peer: not run ({reason})")
    return {"ran": False, "reason": reason, "location": str(peer)}


def pg_dsn(database_url: str) -> str:
    """The run's database as a libpq URL (the peer uses psycopg)."""
    return database_url.replace("postgresql+asyncpg://", "postgresql://", 1)


def run(peer: Path, venv_root: Path, *, amqp_url: str, database_url: str, posts: int, runs: int) -> dict[str, Any]:
    """Run the peer's burst of ``posts`` (``runs`` measured bursts after its warm-up) and return its figures."""
    if not (peer / SCRIPT).is_file() or not (peer / REQUIREMENTS).is_file():
        return not_run(peer, f"no {SCRIPT} and {REQUIREMENTS} in {peer} (set --peer or {ENV_VAR})")
    try:
        python = venv_python(peer, venv_root)
    except (OSError, subprocess.SubprocessError) as error:
        return not_run(peer, f"could not create its virtual environment: {type(error).__name__}: {error}")
    out = Path(tempfile.mkdtemp(prefix="herald-bench-peer-")) / "peer.json"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHON"))},
        "BENCH_AMQP_URL": amqp_url,
        "BENCH_PG_DSN": pg_dsn(database_url),
        "BENCH_X_PORT": str(_unused_port()),
    }
    argv = [str(python), str(peer / SCRIPT), "--n", str(posts), "--runs", str(runs), "--out", str(out)]
    say(f"peer: {' '.join(argv[1:])} (the Celery peer, before Herald starts)")
    began = time.monotonic()
    try:
        done = subprocess.run(  # noqa: S603 - the peer's script in its own interpreter
            argv, cwd=peer, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_SECONDS, check=False
        )
    except subprocess.TimeoutExpired:
        return not_run(peer, f"did not finish within {RUN_TIMEOUT_SECONDS} s")
    if not out.exists():
        tail = (done.stderr or done.stdout or "")[-1500:]
        return not_run(peer, f"exited {done.returncode} without results: {tail}")
    figures = summarise(json.loads(out.read_text()))
    figures |= {"ran": True, "location": str(peer), "exit_code": done.returncode}
    figures["seconds"] = round(time.monotonic() - began, 1)
    say(f"peer: {figures.get('posts_per_second')} posts/s ({figures.get('config')}, all checks ok: {figures['ok']})")
    return figures


def summarise(summary: dict[str, Any]) -> dict[str, Any]:
    """The figures of the peer's best configuration (its default one unless it was asked to sweep)."""
    results = summary.get("results") or []
    best = next((r for r in results if r.get("config", {}).get("name") == summary.get("best")), None)
    chosen = best or (results[0] if results else {})
    median = chosen.get("median") or {}
    runs = chosen.get("runs") or []
    return {
        "posts": summary.get("n"),
        "runs": summary.get("runs_per_config"),
        "config": (chosen.get("config") or {}).get("name"),
        "ok": bool(chosen.get("all_ok")),
        "error": chosen.get("error"),
        "posts_per_second": median.get("posts_per_s"),
        "wall_seconds": median.get("wall_s"),
        "enqueue_seconds": median.get("enqueue_s"),
        "lateness_ms": {k: median.get(f"lateness_ms.{k}") for k in ("p50", "p95", "p99", "max")},
        "posts_per_second_each_run": [r.get("posts_per_s") for r in runs],
        "cpu_percent_each_run": [r.get("cpu_pct") for r in runs],
        "others_percent_of_machine_each_run": [_others(r.get("cpu_pct") or {}) for r in runs],
    }


def _others(cpu: dict[str, Any]) -> float | None:
    """The share of the machine that processes other than the peer's (and the broker and database) used during a
    burst: its ``total`` is the whole machine (200 = both cores busy), the rest are the peer's parts."""
    total = cpu.get("total")
    if not isinstance(total, int | float) or total <= 0:
        return None
    ours = sum(v for k, v in cpu.items() if k != "total" and isinstance(v, int | float))
    return round(max(total - ours, 0) / total, 2)
