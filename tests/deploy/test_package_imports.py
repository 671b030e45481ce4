"""Every image installs one workspace package and what it depends on, nothing else: so each package must declare
(directly or through its declared dependencies) every third-party module its code imports. Otherwise it works in
the development venv, which has everything, and fails in its container with ``ModuleNotFoundError``."""

from __future__ import annotations

import ast
import re
import sys
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = [*sorted(p.parent for p in ROOT.glob("*/*/pyproject.toml")), ROOT / "sandboxes"]
_REQUIREMENT = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?")
_EXTRA_MARKER = re.compile(r"extra\s*==\s*['\"]([^'\"]+)['\"]")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _installed_closure(distribution: str) -> set[str]:
    """The distribution and everything it requires as installed, following only the extras actually asked for."""
    seen: set[tuple[str, frozenset[str]]] = set()
    pending: list[tuple[str, frozenset[str]]] = [(distribution, frozenset())]
    while pending:
        name, extras = pending.pop()
        key = (_canonical(name), extras)
        if key in seen:
            continue
        seen.add(key)
        try:
            requirements = metadata.requires(key[0]) or []
        except metadata.PackageNotFoundError:
            continue
        for requirement in requirements:
            marker = _EXTRA_MARKER.search(requirement)
            if marker and marker.group(1) not in extras:
                continue
            match = _REQUIREMENT.match(requirement)
            if match:
                asked = frozenset(e.strip() for e in (match.group(2) or "").split(",") if e.strip())
                pending.append((match.group(1), asked))
    return {name for name, _ in seen}


def _imports(package: Path) -> set[str]:
    modules: set[str] = set()
    for source in (package / "src").rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(), str(source))):
            if isinstance(node, ast.Import):
                modules.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
    return {m for m in modules if m not in sys.stdlib_module_names and m != "herald"}


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_third_party_import_is_a_declared_dependency(package: Path) -> None:
    name = re.search(r'^name = "([^"]+)"', (package / "pyproject.toml").read_text(), re.M)
    assert name is not None
    closure = _installed_closure(name.group(1))
    providers = metadata.packages_distributions()
    undeclared = {
        module: providers.get(module, ["?"])
        for module in _imports(package)
        if not any(_canonical(dist) in closure for dist in providers.get(module, []))
    }
    assert not undeclared, f"{name.group(1)} imports modules its dependencies do not install: {undeclared}"
