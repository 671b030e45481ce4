"""The sandboxes judge Herald with their own code: no sandbox module imports Herald's platform code.

A sandbox that counted a post's length (or classified an answer) with ``herald.platforms`` would agree with Herald
by construction and could never catch its mistakes. Every module under ``sandboxes/`` is parsed and every import,
including ``importlib.import_module("...")`` with a literal name, is checked.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SANDBOXES = ROOT / "sandboxes"
FORBIDDEN = "herald.platforms"


def imported_modules(tree: ast.AST) -> list[tuple[int, str]]:
    """``(line, module)`` for every import statement and literal ``import_module``/``__import__`` call."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module is not None and node.level == 0:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name in {"import_module", "__import__"} and isinstance(node.args[0].value, str):
                found.append((node.lineno, node.args[0].value))
    return found


def is_forbidden(module: str) -> bool:
    return module == FORBIDDEN or module.startswith(FORBIDDEN + ".")


def sandbox_files() -> list[Path]:
    return sorted(path for path in SANDBOXES.rglob("*.py") if ".venv" not in path.parts)


def test_there_are_sandbox_modules_to_check() -> None:
    files = sandbox_files()
    assert len(files) > 30
    assert SANDBOXES / "src" / "herald" / "sandboxes" / "x" / "tweets.py" in files


@pytest.mark.parametrize("path", sandbox_files(), ids=lambda path: str(path.relative_to(SANDBOXES)))
def test_sandbox_module_does_not_import_herald_platforms(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    offending = [f"line {line}: {module}" for line, module in imported_modules(tree) if is_forbidden(module)]
    assert not offending, f"{path.relative_to(ROOT)} imports Herald's platform code: {offending}"


def test_the_check_catches_every_import_form() -> None:
    source = (
        "import herald.platforms.x\n"
        "from herald.platforms.x.counting import count\n"
        "from herald import platforms\n"
        "importlib.import_module('herald.platforms.meta')\n"
        "from herald.sandboxes import ledger\n"
    )
    flagged = {line for line, module in imported_modules(ast.parse(source)) if is_forbidden(module)}
    assert flagged == {1, 2, 3, 4}


def test_sandboxes_package_does_not_depend_on_herald_platforms() -> None:
    project = tomllib.loads((SANDBOXES / "pyproject.toml").read_text(encoding="utf-8"))
    dependencies = project["project"]["dependencies"]
    assert not [d for d in dependencies if d.replace("_", "-").startswith("herald-platforms")]
