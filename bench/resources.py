"""RSS and CPU time of Herald's processes (and of the broker and database they share), sampled with psutil."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from dataclasses import dataclass

import psutil

MIB = 1024 * 1024
INFRA = {"rabbitmq": ("beam.smp",), "postgresql": ("postgres",)}
"""Shared infrastructure, found by process name. Both also serve anything else running on this machine."""


@dataclass(frozen=True)
class CpuWindow:
    """CPU seconds each process used over a wall-clock window, and the whole machine's busy time."""

    wall_seconds: float
    by_process: dict[str, float]
    machine_busy: float
    """Core-seconds the machine spent busy (all processes, ours and others')."""
    machine_steal: float = 0.0
    """Core-seconds the hypervisor gave this VM's cores to others while it wanted them ("steal" in /proc/stat): a
    machine losing them runs the same work slower, one cause of runs of the same code differing."""

    def per_item_ms(self, items: int) -> dict[str, float]:
        """CPU milliseconds each process spent per item (post, event) of the window: a figure that holds however
        busy the rest of the machine was."""
        ranked = sorted(self.by_process.items(), key=lambda kv: -kv[1])
        found = {name: round(seconds * 1000 / items, 2) for name, seconds in ranked if items}
        found["total"] = round(sum(self.by_process.values()) * 1000 / items, 2) if items else 0.0
        return found

    def as_json(self) -> dict[str, object]:
        ours = sum(self.by_process.values())
        cores = psutil.cpu_count() or 1
        return {
            "wall_seconds": round(self.wall_seconds, 2),
            "cpu_seconds": {k: round(v, 2) for k, v in sorted(self.by_process.items(), key=lambda kv: -kv[1])},
            "machine_busy_core_seconds": round(self.machine_busy, 2),
            "machine_capacity_core_seconds": round(self.wall_seconds * cores, 2),
            "other_processes_core_seconds": round(max(self.machine_busy - ours, 0.0), 2),
            "steal_core_seconds": round(self.machine_steal, 2),
        }


class Monitor:
    """Watches Herald's processes (by name -> pid) plus RabbitMQ and PostgreSQL."""

    def __init__(self, pids: Mapping[str, int]) -> None:
        self._procs = {name: psutil.Process(pid) for name, pid in pids.items()}

    def rss_mib(self) -> dict[str, float]:
        """Resident set size of each Herald process, MiB."""
        found = {}
        for name, proc in self._procs.items():
            try:
                found[name] = proc.memory_info().rss / MIB
            except psutil.Error:
                continue
        return found

    def cpu_seconds(self) -> dict[str, float]:
        """user+system CPU seconds so far of each Herald process and of all broker / database processes."""
        totals: dict[str, float] = {}
        for name, proc in self._procs.items():
            try:
                own = proc.cpu_times()
            except psutil.Error:
                continue
            totals[name] = own.user + own.system
        for label, names in INFRA.items():
            totals[label] = 0.0
            for proc in psutil.process_iter(["name", "cpu_times"]):
                times = proc.info.get("cpu_times")
                if proc.info.get("name") in names and times is not None:
                    # children_*: backends that already exited (PostgreSQL forks one per connection)
                    totals[label] += times.user + times.system + times.children_user + times.children_system
        return totals

    async def peak_rss(self, stop: asyncio.Event, interval: float = 0.5) -> dict[str, float]:
        """The largest RSS of each process seen until ``stop`` is set."""
        peak: dict[str, float] = {}
        while not stop.is_set():
            for name, rss in self.rss_mib().items():
                peak[name] = max(peak.get(name, 0.0), rss)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)
        return peak


class CpuMeter:
    """Start it before a phase and read it after: CPU seconds per process over the phase."""

    def __init__(self, monitor: Monitor) -> None:
        self._monitor = monitor
        self._start = monitor.cpu_seconds()
        self._machine, self._steal = _machine_times()
        self._wall = asyncio.get_running_loop().time()

    def read(self) -> CpuWindow:
        now = self._monitor.cpu_seconds()
        used = {name: max(now[name] - self._start.get(name, 0.0), 0.0) for name in now}
        busy, steal = _machine_times()
        wall = asyncio.get_running_loop().time() - self._wall
        return CpuWindow(wall, used, busy - self._machine, steal - self._steal)


def _machine_times() -> tuple[float, float]:
    """Core-seconds so far the machine was busy, and (Linux only) those the hypervisor took, from one read."""
    times = psutil.cpu_times()
    busy = float(sum(times) - times.idle - getattr(times, "iowait", 0.0))
    return busy, float(getattr(times, "steal", 0.0))
