"""The benchmark's phases, in the order :mod:`bench.cli` runs them."""
