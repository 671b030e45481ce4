"""Write or check the committed contract artifacts: ``python -m herald.contracts.generate [--check] [--root DIR]``.

Artifacts, relative to ``libs/contracts``: ``asyncapi.json`` and, per event version,
``schemas/<type>/v<N>.schema.json`` and ``v<N>.example.json``.

A committed schema is a *published* version. Writing refuses (and ``--check`` fails) when the code would break
one: a breaking change per :mod:`herald.contracts.compat`, a committed example the model no longer accepts, or a
committed version whose model was removed. Such a change needs a new version (``v2``) beside the old one.
``--check`` also fails when any artifact is missing or differs from what the code generates.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from pydantic import ValidationError

from herald.contracts.asyncapi import build_asyncapi
from herald.contracts.compat import breaking_changes
from herald.contracts.examples import example_for
from herald.contracts.registry import EVENT_CLASSES
from herald.contracts.schemas import SCHEMAS_DIR, event_schema, example_path, schema_path

ASYNCAPI_PATH: Final = "asyncapi.json"
DEFAULT_ROOT: Final = Path(__file__).resolve().parents[3]
"""``libs/contracts`` when run from the source tree."""


def dump_json(document: Any) -> str:
    """The committed JSON formatting: two-space indent, UTF-8, trailing newline."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def render() -> dict[str, str]:
    """Every artifact the code generates: relative path to file content."""
    files = {ASYNCAPI_PATH: dump_json(build_asyncapi())}
    for cls in EVENT_CLASSES:
        files[schema_path(cls)] = dump_json(event_schema(cls))
        files[example_path(cls)] = dump_json(example_for(cls).model_dump(mode="json"))
    return files


def published_version_problems(root: Path) -> list[str]:
    """Ways the code breaks versions already committed under ``root`` (empty if none)."""
    problems: list[str] = []
    for cls in EVENT_CLASSES:
        advice = f"publish {cls.TYPE} v{cls.VERSION + 1} beside v{cls.VERSION} instead"
        committed = root / schema_path(cls)
        if committed.exists():
            for change in breaking_changes(json.loads(committed.read_text()), event_schema(cls)):
                problems.append(f"{cls.ce_type()}: breaking change, {change}; {advice}")
        example = root / example_path(cls)
        if example.exists():
            try:
                cls.model_validate_json(example.read_text())
            except ValidationError as exc:
                problems.append(f"{cls.ce_type()}: the committed example no longer validates ({exc}); {advice}")
    known = {schema_path(cls) for cls in EVENT_CLASSES} | {example_path(cls) for cls in EVENT_CLASSES}
    for path in sorted((root / SCHEMAS_DIR).glob("*/*.json")):
        relative = path.relative_to(root).as_posix()
        if relative not in known:
            problems.append(f"{relative}: committed, but no registered model generates it; restore the model")
    return problems


def check(root: Path) -> list[str]:
    """Everything wrong with the committed artifacts under ``root`` (empty if they are up to date)."""
    problems = published_version_problems(root)
    for relative, content in render().items():
        path = root / relative
        if not path.exists():
            problems.append(f"{relative}: missing; run python -m herald.contracts.generate")
        elif path.read_text() != content:
            problems.append(f"{relative}: differs from the code; run python -m herald.contracts.generate")
    return problems


def write(root: Path) -> tuple[list[str], list[str]]:
    """Write changed artifacts under ``root``; returns (written paths, problems). Writes nothing on problems."""
    problems = published_version_problems(root)
    if problems:
        return [], problems
    written = []
    for relative, content in render().items():
        path = root / relative
        if not path.exists() or path.read_text() != content:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
            written.append(relative)
    return written, []


def main(argv: Sequence[str] | None = None) -> int:
    """The command line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m herald.contracts.generate", description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="fail if the committed artifacts are not up to date")
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="the libs/contracts directory")
    args = parser.parse_args(argv)
    root: Path = args.root
    if not (root / "pyproject.toml").is_file():
        parser.error(f"{root} is not the libs/contracts directory; pass --root")
    if args.check:
        problems = check(root)
    else:
        written, problems = write(root)
        for relative in written:
            print(f"wrote {relative}")
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
