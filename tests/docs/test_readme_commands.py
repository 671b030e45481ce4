"""The README's commands work as written: `herald` is where the README says `make run` puts it, and each
`herald ...` line it shows is accepted by the CLI; the sandbox README's `/_sandbox/posts` ordering is the code's."""

from __future__ import annotations

import datetime as dt
import shlex
import subprocess
import sys
from pathlib import Path

from herald.operator.cli import parser
from herald.sandboxes.ledger import PostLedger, StoredPost

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
SANDBOX_README = (ROOT / "sandboxes" / "README.md").read_text()


def test_herald_is_in_the_venv_the_readme_activates() -> None:
    assert ". .venv/bin/activate" in README
    # The tests run in that venv (uv run), so its bin directory is where `make run` / `make install` put `herald`.
    herald = Path(sys.prefix) / "bin" / "herald"
    assert herald.exists()
    result = subprocess.run([str(herald), "parked", "--help"], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert "replay" in result.stdout


def test_every_herald_line_in_the_readme_parses() -> None:
    lines = [line.split("#")[0].strip() for line in README.splitlines() if line.strip().startswith("herald ")]
    assert len(lines) >= 4
    for line in lines:
        parser().parse_args([w.replace("<id>", "0b7c") for w in shlex.split(line)[1:]])


def test_sandbox_posts_ordering_is_as_documented() -> None:
    assert "with `account`, that account's posts newest first" in SANDBOX_README
    assert "without, every post oldest first" in SANDBOX_README
    ledger = PostLedger()
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    for i in range(3):
        ledger.add(StoredPost(id=str(i), account="a", text=f"post {i}", created_at=start + dt.timedelta(seconds=i)))
    assert [p.id for p in ledger.by_account("a")] == ["2", "1", "0"]
    assert [p.id for p in ledger.all()] == ["0", "1", "2"]
