"""Operator tooling for Herald: the ``herald`` command (parking-lot inspection, replay and purge).

See :mod:`herald.operator.cli` for the commands and :mod:`herald.operator.parking` for the guarantees.
"""
