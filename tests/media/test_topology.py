"""The media process in the local topology: its port, the object store, and the credentials it and the scheduler
use to call each other (each side configured with the SHA-256 of the other's secret)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from herald.kit.auth import sha256_hex
from herald.objectstore import objectstore_settings_from_env
from herald.operator.local import topology

pytestmark = pytest.mark.fast


def _secret(token: str, service: str) -> str:
    assert token.startswith(f"svc_{service}_")
    return token.removeprefix(f"svc_{service}_")


def test_media_and_the_scheduler_are_wired_to_each_other(tmp_path: Path) -> None:
    entries = {p.name: p for p in topology(tmp_path / "keys.json")}
    media, scheduler = entries["media"], entries["scheduler"]
    assert (media.module, media.port) == ("herald.media", 8004)
    assert list(entries).index("objectstore") < list(entries).index("media")
    assert objectstore_settings_from_env(media.env).bucket == "herald-media"
    assert media.env["HERALD_SCHEDULER_URL"] == "http://127.0.0.1:8001"
    assert scheduler.env["HERALD_MEDIA_URL"] == "http://127.0.0.1:8004"
    media_secret = _secret(media.env["HERALD_SERVICE_TOKEN"], "media")
    scheduler_secret = _secret(scheduler.env["HERALD_SERVICE_TOKEN"], "scheduler")
    assert json.loads(scheduler.env["HERALD_SERVICE_CREDENTIALS"]) == {"media": sha256_hex(media_secret)}
    assert json.loads(media.env["HERALD_SERVICE_CREDENTIALS"]) == {"scheduler": sha256_hex(scheduler_secret)}
    again = {p.name: p for p in topology(tmp_path / "keys.json")}
    assert again["media"].env["HERALD_SERVICE_TOKEN"] != media.env["HERALD_SERVICE_TOKEN"]  # fresh per run
