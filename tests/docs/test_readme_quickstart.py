"""The README's curl quickstart, extracted from README.md itself and run with bash against ``make run``'s stack
(``deploy/local/run.py`` on its usual ports, against this run's own vhost and database), so the two cannot drift:
the text post, then (in the same shell) the image post through the media service.

The stack takes the fixed ports 8001-8013, 9101-9103 and 9090, so the test holds the machine-wide lock
``/tmp/herald-stack.lock`` that every whole-stack run takes (``flock /tmp/herald-stack.lock ...``)."""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import isolated_database, isolated_vhost

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
LOCK = Path("/tmp/herald-stack.lock")
LOCK_WAIT_SECONDS = 900  # another engineer's e2e, chaos or bench run may hold it that long
PORTS = (8001, 8002, 8003, 8004, 8011, 8012, 8013, 9101, 9102, 9103)


def curl_block() -> str:
    """The README's bash block that starts with the API key step."""
    blocks = re.findall(r"```bash\n(.*?)```", README, re.DOTALL)
    (block,) = [b for b in blocks if "KEY=$(curl" in b]
    return str(block)


def media_block() -> str:
    """The README's bash block that continues the quickstart with an image post (upload, content with media)."""
    blocks = re.findall(r"```bash\n(.*?)```", README, re.DOTALL)
    (block,) = [b for b in blocks if "localhost:8004/v1/media -H" in b]
    return str(block)


def port_taken(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def stack_lock() -> Iterator[None]:
    with LOCK.open("a") as handle:
        deadline = time.monotonic() + LOCK_WAIT_SECONDS
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    pytest.fail(f"{LOCK} held by another whole-stack run for {LOCK_WAIT_SECONDS // 60} minutes")
                time.sleep(1)  # between tries for the machine-wide lock another stack run holds (bounded)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@pytest.fixture
def make_run_stack(stack_lock: None, amqp_base_url: str, database_base_url: str, tmp_path: Path) -> Iterator[Path]:
    taken = [p for p in PORTS if port_taken(p)]
    if taken:
        pytest.fail(f"ports {taken} are in use outside the stack lock: stop the `make run` using them and rerun")
    run = uuid.uuid4().hex[:8]
    with (
        isolated_vhost(amqp_base_url, f"herald-readme-{run}") as amqp_url,
        isolated_database(database_base_url, f"herald_readme_{run}") as database_url,
    ):
        yield from _make_run(tmp_path / "make-run.log", amqp_url, database_url)


def _make_run(log: Path, amqp_url: str, database_url: str) -> Iterator[Path]:
    env = {**os.environ, "HERALD_AMQP_URL": amqp_url, "HERALD_DATABASE_URL": database_url}
    with log.open("wb") as out:
        proc = subprocess.Popen(  # what `make run` runs
            [sys.executable, "deploy/local/run.py"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 120
        for port in (8001, 8002, 8003, 8004, 8011, 8012, 8013):
            while True:
                assert proc.poll() is None, f"make run's stack exited:\n{log.read_text()[-3000:]}"
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, f":{port} not ready:\n{log.read_text()[-3000:]}"
                time.sleep(0.5)  # a synchronous readiness poll (bounded by the deadline), not a fixed wait
        yield log
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_the_block_is_found_and_waits_for_the_post() -> None:
    block = curl_block()
    assert "for _ in $(seq 60)" in block  # it waits for the outcome instead of showing `scheduled`
    assert "/_sandbox/posts" in block
    media = media_block()
    assert "for _ in $(seq 60)" in media
    assert "$ACCOUNT" in media  # it continues the first block's shell


@pytest.mark.timeout(LOCK_WAIT_SECONDS + 420)
@pytest.mark.e2e
def test_the_readme_curl_quickstart_publishes_the_post(make_run_stack: Path) -> None:
    assert shutil.which("jq") is not None, "the quickstart uses jq"
    result = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", curl_block() + "\n" + media_block()],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    shown = f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert result.returncode == 0, shown
    # jq prints one JSON value after another: the approval, the distribution, the sandbox post, the audit entries.
    values = [v for v in _json_values(result.stdout) if isinstance(v, dict)]
    (distribution,) = [v for v in values if set(v) == {"status", "external_post_id", "attempts"}]
    assert distribution["status"] == "published", shown
    assert distribution["external_post_id"], shown
    (post,) = [v for v in values if set(v) == {"id", "text", "created_at"}]
    assert post["id"] == distribution["external_post_id"], shown
    assert post["text"] == "Hello from Herald", shown
    actions = [v["action"] for v in values if set(v) == {"occurred_at", "action", "actor"}]
    assert actions[0] == "distribution_scheduled", shown
    assert "content_published" in actions, shown
    # The image post: the media item as detected from its bytes, published, and on the sandbox with X's media id.
    (item,) = [v for v in values if set(v) == {"id", "kind", "content_type", "width", "height", "size_bytes"}]
    assert (item["kind"], item["content_type"], item["width"], item["height"]) == ("image", "image/jpeg", 1080, 1080)
    (photo,) = [v for v in values if set(v) == {"status", "external_post_id"}]
    assert photo["status"] == "published", shown
    (photo_post,) = [v for v in values if set(v) == {"id", "text", "media_ids"}]
    assert photo_post["id"] == photo["external_post_id"], shown
    assert photo_post["text"] == "A photo from Herald", shown
    assert len(photo_post["media_ids"]) == 1, shown


def _json_values(text: str) -> Iterator[object]:
    """jq's output: pretty-printed JSON values one after another."""
    decoder = json.JSONDecoder()
    index = 0
    while index < len(text):
        while index < len(text) and text[index].isspace():
            index += 1
        if index >= len(text):
            return
        value, index = decoder.raw_decode(text, index)
        yield value
