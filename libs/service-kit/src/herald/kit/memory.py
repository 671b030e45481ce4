"""The process's heap and its garbage collector: what start-up freed given back to the operating system, and the
cyclic collector set for a long-running service."""

from __future__ import annotations

import ctypes
import gc
import sys

GC_YOUNG_THRESHOLD = 20_000
"""Allocations (less deallocations) of container objects between young-generation collections (CPython: 700)."""


def tune_collector() -> None:
    """Set the cyclic garbage collector for serving; called once, when the app is built and before it serves.

    Everything built so far (modules, models, schemas, the app) lives as long as the process: frozen out of the
    collector's sight, it is no longer walked by every full collection, each of which stalled all requests for
    0.1-0.3 s under load (measured on the scheduler).

    A young-generation collection walks every container allocated since the last one that is still alive, and a busy
    service holds many (each delivery or request in flight its futures, models and buffers). At CPython's default of
    700 allocations a publisher collected every few deliveries: publisher-x spent 545 ms in the collector over a burst
    run, in 210 young collections of ~2 ms; with ``GC_YOUNG_THRESHOLD`` it spent 105 ms, in 5 of ~20 ms (measured
    with ``gc.callbacks``). Cyclic garbage is still collected within that many allocations.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])


def release_free_heap() -> None:
    """Collect garbage, then glibc's ``malloc_trim(0)``: return free heap pages to the OS.

    Start-up (settings and schema building, the broker's and the database's first connections) frees a few MiB
    that glibc otherwise keeps resident for the life of the process (4.5 MiB of the audit service's idle RSS,
    measured). Called once, when a service has started. A no-op where the C library is not glibc (musl, macOS).
    """
    gc.collect()
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc
        return
    trim = getattr(libc, "malloc_trim", None)
    if trim is not None:
        trim(0)
