"""Optional sampling profiles of the services during the burst (``--profile``), with py-spy.

py-spy samples each process from outside (no code change, ``--nonblocking`` so the target never pauses) and writes
collapsed stacks. Idle threads (an event loop waiting in epoll) are not sampled, so the samples show where each
service spends its CPU. The summary names the hottest leaf functions and how the samples split across libraries.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

FRAME = re.compile(r"^(?P<function>.*?) \((?P<file>[^:()]*)(?::\d+)?\)$")
HERALD_PACKAGES = frozenset(
    {"kit", "publishing", "scheduler", "audit", "tokens", "platforms", "contracts", "sandboxes", "operator"}
    | {"publisher_x", "publisher_linkedin", "publisher_meta"}
)
"""Top-level folders of ``herald.*`` as py-spy abbreviates them (``publishing/service.py``)."""
INCLUSIVE = {
    "sqlalchemy": r"\(sqlalchemy/",
    "asyncpg": r"\(asyncpg/",
    "httpx / httpcore (HTTP client)": r"\((httpx|httpcore)/",
    "aio-pika / aiormq / pamqp (AMQP client)": r"\((aio_pika|aiormq|pamqp)/",
    "DI thread hop (fast_depends run_in_threadpool, worker threads)": r"run_in_threadpool|WorkerThread\.run",
    "logging": r"\((logging/__init__|kit/logging)\.py",
    "pydantic": r"\(pydantic",
    "HTTP server (uvicorn / starlette / fastapi)": r"\((uvicorn/protocols|starlette|fastapi)/",
    "prometheus_client": r"\(prometheus_client/",
}
"""Samples whose stack passes through each component (a sample can count for several)."""


def py_spy() -> str | None:
    return shutil.which("py-spy")


@dataclass
class Recording:
    name: str
    output: Path
    process: subprocess.Popen[bytes]


def start(pids: Mapping[str, int], directory: Path, rate: int = 25) -> list[Recording]:
    """Start one ``py-spy record`` per process; stop them with :func:`stop`."""
    binary = py_spy()
    if binary is None:
        raise RuntimeError("py-spy is not on PATH: run `uv run --with py-spy python -m bench --profile`")
    recordings = []
    for name, pid in pids.items():
        output = directory / f"{name}.collapsed.txt"
        command = [binary, "record", "--pid", str(pid), "--rate", str(rate), "--format", "raw"]
        command += ["--nonblocking", "--output", str(output)]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603
        recordings.append(Recording(name, output, process))
    return recordings


def stop(recordings: list[Recording]) -> dict[str, dict[str, Any]]:
    """Stop the recorders (SIGINT makes py-spy write its file) and summarise each profile."""
    overhead = 0.0
    for recording in recordings:
        with contextlib.suppress(psutil.Error):
            times = psutil.Process(recording.process.pid).cpu_times()
            overhead += times.user + times.system
        recording.process.send_signal(signal.SIGINT)
    summaries: dict[str, dict[str, Any]] = {"py-spy": {"cpu_seconds": round(overhead, 2)}}
    for recording in recordings:
        try:
            recording.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            recording.process.kill()
        if recording.output.exists():
            summaries[recording.name] = {
                "file": str(recording.output),
                **summarise(recording.output.read_text(errors="replace")),
            }
    return summaries


def area(file: str) -> str:
    """Which library, Herald package or stdlib module a frame's (py-spy abbreviated) file belongs to."""
    if not file:
        return "?"
    if file.startswith("<"):
        return "stdlib.importlib" if "importlib" in file else file
    top = file.split("/", maxsplit=1)[0].removesuffix(".py")
    if top in HERALD_PACKAGES:
        return f"herald.{top}"
    if top in sys.stdlib_module_names:
        return f"stdlib.{top}"
    return top


def parse_frame(frame: str) -> tuple[str, str]:
    """(function, file) of one py-spy frame, ``function (file:line)``."""
    match = FRAME.match(frame.strip())
    if match is None:
        return frame.strip(), ""
    return match.group("function"), match.group("file")


def summarise(collapsed: str, top: int = 12) -> dict[str, Any]:
    """From collapsed stacks: the share of samples passing through each component, the hottest leaf functions,
    the split by the leaf frame's library, and by the innermost Herald function on the stack."""
    leaves: Counter[str] = Counter()
    areas: Counter[str] = Counter()
    callers: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    patterns = {name: re.compile(pattern) for name, pattern in INCLUSIVE.items()}
    total = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [f for f in stack.split(";") if f and not f.startswith("process ") and not f.startswith("thread ")]
        if not frames:
            continue
        function, file = parse_frame(frames[-1])
        leaves[f"{function} ({area(file)})"] += count
        areas[area(file)] += count
        callers[_herald_caller(frames)] += count
        for name, pattern in patterns.items():
            if pattern.search(stack):
                inclusive[name] += count
        total += count
    if not total:
        return {"samples": 0}
    return {
        "samples": total,
        "through_component": {name: round(inclusive[name] / total, 3) for name in INCLUSIVE},
        "top_leaf_functions": _shares(leaves, total, top),
        "by_library": _shares(areas, total, top),
        "by_herald_caller": _shares(callers, total, top),
    }


def _shares(counts: Counter[str], total: int, top: int) -> list[dict[str, Any]]:
    return [{"name": name, "share": round(n / total, 3)} for name, n in counts.most_common(top)]


def _herald_caller(frames: list[str]) -> str:
    """The innermost Herald function on the stack: the Herald code that the sampled work was done for."""
    for frame in reversed(frames):
        function, file = parse_frame(frame)
        if area(file).startswith("herald."):
            return f"{file.removesuffix('.py').replace('/', '.')}.{function}"
    return "(no Herald frame: event loop, server, or a SQLAlchemy greenlet's own stack)"
