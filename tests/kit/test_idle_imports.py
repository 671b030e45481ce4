"""What a service keeps in memory at idle starts with what its entry module imports: each service's module is
imported in a fresh interpreter and the heavy modules it must not load are checked absent. (Idle RSS itself is a
bench figure: ``python -m bench`` reports ``idle_rss_mib``.)"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

START_UP_ONLY = ("alembic", "mako")
"""Alembic (and its Mako templates), ~11 MiB: migrations run in a child process (herald.kit.migrations)."""
TOKENS_ONLY = ("cryptography",)
"""Its Rust extension (~7 MiB, with its own OpenSSL) encrypts tokens at rest: the token service's business only."""
MEDIA_READERS_ONLY = ("herald.objectstore", "aiohttp")
"""The object store client and aiohttp (the platforms' HTTP transport): for the media service and publishers."""

ENTRY_MODULES = {
    "herald.tokens.main": (*START_UP_ONLY, *MEDIA_READERS_ONLY),
    "herald.scheduler.main": (*START_UP_ONLY, *TOKENS_ONLY, *MEDIA_READERS_ONLY),
    "herald.audit.main": (*START_UP_ONLY, *TOKENS_ONLY, *MEDIA_READERS_ONLY, "httpx", "herald.platforms"),
    "herald.media.main": (*START_UP_ONLY, *TOKENS_ONLY, "aiohttp", "herald.platforms"),
    "herald.publishing.app": (*START_UP_ONLY, *TOKENS_ONLY),  # what the three publishers' __main__ run
}


@pytest.mark.parametrize(("module", "absent"), ENTRY_MODULES.items())
def test_a_service_does_not_load_what_it_needs_only_at_start_or_never(module: str, absent: tuple[str, ...]) -> None:
    code = f"import importlib, json, sys; importlib.import_module({module!r}); print(json.dumps(sorted(sys.modules)))"
    loaded = set(json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, check=True).stdout))
    assert sorted(name for name in absent if name in loaded) == []
