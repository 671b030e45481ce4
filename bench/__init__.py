"""Herald's benchmark (``make bench``): the whole system as real processes, measured on this machine.

Run it with ``uv run python -m bench`` (``--quick`` for a short smoke run). See :mod:`bench.cli` for the phases.
"""
