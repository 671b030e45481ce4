"""The media service's OpenAPI document is true: schemathesis against the running service (as tests/openapi does for
the other services), with every check, NUL bytes allowed, within a bounded budget."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

from herald.kit.auth import ApiKeyStore
from tests.media.conftest import Harness

CONFIG = Path(__file__).with_name("schemathesis.toml")
SECONDS = 25


def schemathesis(url: str, header: str, *, tmp: Path, only: str) -> None:
    command = [
        sys.executable, "-m", "schemathesis.cli", "--config-file", str(CONFIG), "run", f"{url}/openapi.json",
        "--checks", "all", "--phases", "examples,coverage,fuzzing", "--max-examples", "15",
        "--max-time", str(SECONDS), "--workers", "1", "--seed", "13", "--generation-allow-x00", "true",
        "--generation-database", "none", "--request-timeout", "30", "--no-color", "--report-dir", str(tmp),
        "-H", header, "--include-path-regex", only,
    ]  # fmt: skip
    tmp.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=SECONDS + 120, cwd=tmp)
    assert done.returncode == 0, done.stdout[-12_000:] + done.stderr[-3000:]


async def test_the_media_api_answers_what_its_openapi_document_says(harness: Harness, tmp_path: Path) -> None:
    _, key = await ApiKeyStore(harness.engine).create(uuid.uuid4(), "schemathesis")
    schemathesis(harness.url, f"Authorization: Bearer {key}", tmp=tmp_path / "team", only="^/(v1|metrics|healthz)")
    internal = f"Authorization: Bearer {harness.scheduler_credential}"
    schemathesis(harness.url, internal, tmp=tmp_path / "internal", only="^/internal/")
