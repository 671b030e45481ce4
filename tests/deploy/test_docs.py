"""docs/operations.md matches the code: its commands parse, the commands it sends operators to exist, and every
``HERALD_*`` variable it names is a setting some service reads."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys

from herald.kit import auth
from herald.operator.cli import parser
from herald.operator.settings import OperatorSettings
from tests.deploy.services import ROOT, SERVICES, objectstore_env_names, unknown_env_names

GUIDE = (ROOT / "docs" / "operations.md").read_text()


def code_lines() -> list[str]:
    blocks = re.findall(r"```(?:bash)?\n(.*?)```", GUIDE, re.DOTALL)
    return [line.split("#")[0].strip() for block in blocks for line in block.splitlines() if line.strip()]


def test_every_herald_command_in_the_guide_parses() -> None:
    commands = [line for line in code_lines() if line.startswith("herald ")]
    assert len(commands) >= 5
    for command in commands:
        words = [w.replace("<id>", "0b7c") for w in shlex.split(command)[1:]]
        parser().parse_args(words)  # exits (SystemExit) on anything the CLI does not accept


def test_the_tokens_commands_the_guide_uses_exist() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "herald.tokens", "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "rotate-keys" in result.stdout
    assert "new-key" in result.stdout
    assert "python -m herald.tokens rotate-keys" in GUIDE
    assert "new_service_credential" in GUIDE
    token, digest = auth.new_service_credential("publisher-x")
    assert token.startswith("svc_publisher-x_")
    assert len(digest) == 64


def test_every_variable_the_guide_names_is_a_setting() -> None:
    found = set(re.findall(r"\bHERALD_[A-Z0-9_]+\b", GUIDE))
    assert "HERALD_TOKEN_KEYS" in found
    # A name ending in "_" is a family ("HERALD_OBJECTSTORE_*"): some variable of the family must be read.
    families = {name for name in found if name.endswith("_")}
    names = found - families
    classes = {service.settings for service in SERVICES.values()} | {OperatorSettings}
    unread = [name for name in names if all(unknown_env_names(cls, [name]) for cls in classes)]
    assert unread == []
    known = objectstore_env_names()
    assert [family for family in families if not any(name.startswith(family) for name in known)] == []
