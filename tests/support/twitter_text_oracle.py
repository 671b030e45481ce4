"""The official twitter-text library (npm ``twitter-text`` 3.1.0, run by Node) as an oracle for X's count.

The package and its lockfile live in ``tests/oracles/twitter-text``; ``npm ci`` installs them there the first time
(under a file lock, so parallel test runs do not race). All texts go to ONE ``node`` process as JSON and come back
as JSON, so thousands of texts cost one process start.
"""

from __future__ import annotations

import fcntl
import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

ORACLE_DIR = Path(__file__).resolve().parents[1] / "oracles" / "twitter-text"
NODE_MODULES = ORACLE_DIR / "node_modules"
VERSION = "3.1.0"
CONFORMANCE_DIR = ORACLE_DIR / "conformance"


class OracleUnavailable(RuntimeError):
    """Node or npm is missing, or the locked packages could not be installed."""


@dataclass(frozen=True)
class Judgement:
    """What twitter-text says about one text. Indexes are code points (Python string indexes)."""

    weighted_length: int
    valid: bool
    urls: tuple[tuple[int, int, str], ...]
    emoji: tuple[tuple[int, int], ...]


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise OracleUnavailable(f"`{name}` is not on PATH: the X counting oracle needs Node.js 18+ and npm")
    return path


def _installed_as_locked() -> bool:
    """Every package of ``package-lock.json`` is in ``node_modules`` at its locked version."""
    locked = json.loads((ORACLE_DIR / "package-lock.json").read_text(encoding="utf-8"))["packages"]
    for path, entry in locked.items():
        if not path:
            continue  # the root project itself
        manifest = ORACLE_DIR / path / "package.json"
        if not manifest.exists() or json.loads(manifest.read_text(encoding="utf-8")).get("version") != entry["version"]:
            return False
    return True


def ensure_installed() -> None:
    """``npm ci`` in the oracle folder unless its locked packages are already there, at their locked versions."""
    if _installed_as_locked():
        return
    npm = _tool("npm")
    with (ORACLE_DIR / ".install.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _installed_as_locked():
            return
        result = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
            cwd=ORACLE_DIR,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if result.returncode != 0:
            raise OracleUnavailable(f"npm ci in {ORACLE_DIR} failed:\n{result.stderr[-2000:]}")


def installed_file(relative: str) -> Path:
    """A file of an installed oracle package, e.g. ``emoji-test-regex-pattern/dist/latest/index-strings.txt``."""
    ensure_installed()
    return NODE_MODULES / relative


def judge(texts: list[str]) -> list[Judgement]:
    """twitter-text's ``parseTweet`` (v3 config), ``extractUrlsWithIndices`` and twemoji entities for each text."""
    ensure_installed()
    result = subprocess.run(
        [_tool("node"), str(ORACLE_DIR / "oracle.js")],
        input=json.dumps({"texts": texts}),
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=110,
        check=False,
    )
    if result.returncode != 0:
        raise OracleUnavailable(f"the twitter-text oracle failed:\n{result.stderr[-2000:]}")
    answer = json.loads(result.stdout)
    if answer["version"] != VERSION:
        raise OracleUnavailable(f"twitter-text {answer['version']} is installed, the oracle is pinned to {VERSION}")
    return [
        Judgement(
            weighted_length=item["weightedLength"],
            valid=item["valid"],
            urls=tuple((url["start"], url["end"], url["url"]) for url in item["urls"]),
            emoji=tuple((start, end) for start, end in item["emoji"]),
        )
        for item in answer["answers"]
    ]
