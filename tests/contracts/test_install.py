"""herald-contracts installs on its own and works with nothing but pydantic (and pydantic's own dependencies)."""

from __future__ import annotations

import importlib.metadata as md
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from herald.contracts.generate import DEFAULT_ROOT

SMOKE = textwrap.dedent(
    """
    import importlib.util
    for absent in ("cloudevents", "jsonschema", "faststream", "yaml"):
        assert importlib.util.find_spec(absent) is None, f"{absent} is importable: the test is not isolated"
    import herald
    assert getattr(herald, "__file__", None) is None, "herald must be a namespace package"
    from herald.contracts import PublishRequested, from_amqp, to_amqp
    from herald.contracts.examples import example_for
    event = example_for(PublishRequested)
    env = to_amqp(event, source="/herald/install-test")
    assert from_amqp(env.body, env.headers) == event
    print("ok", env.routing_key)
    """
)


def _uv() -> str:
    uv = os.environ.get("UV") or shutil.which("uv")
    assert uv, "uv is needed to build herald-contracts"
    return uv


def _requirement_names(dist: str) -> set[str]:
    names = set()
    for requirement in md.requires(dist) or []:
        if "extra ==" not in requirement:
            match = re.match(r"[A-Za-z0-9._-]+", requirement)
            assert match
            names.add(match.group(0).lower().replace("_", "-"))
    return names


def _pydantic_closure() -> set[str]:
    todo, seen = ["pydantic"], set()
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo += _requirement_names(name)
    return seen


def _link_distribution(dist: str, into: Path) -> None:
    """Make one installed distribution's top-level modules importable from ``into``."""
    for file in md.distribution(dist).files or []:
        top = file.parts[0]
        if top.endswith((".dist-info", "__pycache__")) or top == ".." or (into / top).exists():
            continue
        source = Path(str(file.locate())).parents[len(file.parts) - 1] / top
        (into / top).symlink_to(source)


@pytest.mark.timeout(60)
def test_installs_alone_and_runs_with_only_pydantic(tmp_path: Path) -> None:
    target, deps = tmp_path / "site", tmp_path / "deps"
    deps.mkdir()
    subprocess.run(
        [_uv(), "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(DEFAULT_ROOT)],
        check=True,
        timeout=60,
    )
    (dist_info,) = target.glob("herald_contracts-*.dist-info")
    requires = re.findall(r"^Requires-Dist: (.+)$", (dist_info / "METADATA").read_text(), re.MULTILINE)
    assert requires == ["pydantic<3,>=2.9"]
    assert not (target / "herald" / "__init__.py").exists()
    assert (target / "herald" / "contracts" / "py.typed").exists()
    for dist in _pydantic_closure():
        _link_distribution(dist, deps)

    # -I: ignore PYTHONPATH and user site; -S: no site-packages at all. Only stdlib, the install and pydantic.
    script = f"import sys; sys.path[:0] = [{str(target)!r}, {str(deps)!r}]\n{SMOKE}"
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", script], capture_output=True, text=True, timeout=30, check=False
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok publish.requested.v2.linkedin"
