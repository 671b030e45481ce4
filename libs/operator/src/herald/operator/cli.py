"""The ``herald`` operator command (being built)."""


def main() -> None:
    raise SystemExit("herald: not implemented yet")
