"""The Dockerfile, read by Docker's own parser (the ``dockerfile`` package): a multi-stage build from the locked uv
workspace, one package per image, non-root at run time, buildable offline; and every image compose builds is a
workspace package that contains the module it runs. The images themselves are built and run by ``make compose-test``
(deploy/compose-test)."""

from __future__ import annotations

import fnmatch
import importlib.util
import tomllib
from pathlib import Path

import dockerfile  # type: ignore[import-not-found]  # a compiled module without stubs

from tests.deploy.services import ROOT, load_yaml

COMMANDS = dockerfile.parse_file(str(ROOT / "Dockerfile"))
COMPOSE = load_yaml(ROOT / "docker-compose.yml")


def stages() -> list[list[dockerfile.Command]]:
    found: list[list[dockerfile.Command]] = []
    for command in COMMANDS:
        if command.cmd == "FROM":
            found.append([])
        if found:
            found[-1].append(command)
    return found


def workspace_packages() -> dict[str, Path]:
    """Workspace package name -> its directory."""
    root = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = {}
    for pattern in root["tool"]["uv"]["workspace"]["members"]:
        for directory in sorted(ROOT.glob(pattern)):
            pyproject = directory / "pyproject.toml"
            if pyproject.exists():
                packages[tomllib.loads(pyproject.read_text())["project"]["name"]] = directory
    return packages


def test_no_syntax_directive_so_the_build_needs_no_registry() -> None:
    # `# syntax=...` makes BuildKit pull a frontend image before anything else; the built-in frontend suffices.
    lines = (ROOT / "Dockerfile").read_text().splitlines()
    directives = [line for line in lines if line.replace(" ", "").lower().startswith("#syntax=")]
    assert directives == []
    (installs,) = [c.value[0] for c in COMMANDS if c.cmd == "RUN" and "install" in c.value[0] and "uv==" in c.value[0]]
    assert installs.startswith("python3 -m pip ")  # a Debian base image has python3 but no `pip` on PATH


def test_a_build_stage_and_a_runtime_stage_from_the_same_python() -> None:
    build, runtime = stages()
    assert build[0].value[-2:] == ("AS", "build")
    assert runtime[0].value[-2:] == ("AS", "runtime")
    assert build[0].value[0] == runtime[0].value[0] == "${PYTHON_IMAGE}"  # the venv's interpreter path matches
    copies = [c for c in runtime if c.cmd == "COPY"]
    assert [c.flags for c in copies] == [("--from=build",)]
    assert copies[0].value == ("/app/.venv", "/app/.venv")


def test_dependencies_come_from_the_lock_file_one_package_at_a_time() -> None:
    syncs = [c.value[0] for c in COMMANDS if c.cmd == "RUN" and "uv sync" in c.value[0]]
    assert len(syncs) == 2
    for sync in syncs:
        assert "--frozen" in sync
        assert "--no-dev" in sync
        assert '--package "herald-${SERVICE}"' in sync
    assert "--no-install-workspace" in syncs[0]  # third-party layer first, cached across source changes
    assert "--no-editable" in syncs[1]  # the runtime image needs no source tree


def test_every_workspace_member_manifest_is_copied_before_the_dependency_layer() -> None:
    build = stages()[0]
    first_sync = next(i for i, c in enumerate(build) if c.cmd == "RUN" and "uv sync" in c.value[0])
    copied = {src for c in build[:first_sync] if c.cmd == "COPY" for src in c.value[:-1]}
    for directory in workspace_packages().values():
        assert str((directory / "pyproject.toml").relative_to(ROOT)) in copied
    assert {"pyproject.toml", "uv.lock"} <= copied
    for source in copied:
        assert (ROOT / source).exists(), source


def test_the_runtime_is_unprivileged_and_runs_the_chosen_module() -> None:
    runtime = stages()[1]
    (user,) = [c.value[0] for c in runtime if c.cmd == "USER"]
    assert user.split(":")[0] not in {"0", "root"}
    assert int(user.split(":")[0]) >= 10000
    (cmd,) = [c for c in runtime if c.cmd == "CMD"]
    assert cmd.json  # exec form: the shell execs python, so SIGTERM reaches the service
    assert cmd.value == ("sh", "-c", 'exec python -m "$SERVICE_MODULE"')
    env = next(c.value for c in runtime if c.cmd == "ENV")
    settings = dict(zip(env[::2], env[1::2], strict=True))
    assert settings["SERVICE_MODULE"] == "${SERVICE_MODULE}"
    assert settings["HERALD_HTTP_HOST"] == "0.0.0.0"
    args = {c.value[0].split("=")[0]: c.value[0].split("=")[1] for c in runtime if c.cmd == "ARG"}
    assert f"herald-{args['SERVICE']}" in workspace_packages()
    assert importlib.util.find_spec(args["SERVICE_MODULE"]) is not None


def test_every_image_compose_builds_is_a_package_with_its_module() -> None:
    packages = workspace_packages()
    built = [s for s in COMPOSE["services"].values() if "build" in s]
    assert len(built) >= 10
    for service in built:
        args = service["build"]["args"]
        directory = packages[f"herald-{args['SERVICE']}"]
        module_path = Path(*args["SERVICE_MODULE"].split("."))
        assert (directory / "src" / module_path).is_dir(), args
        assert service["build"]["dockerfile"] == "Dockerfile"


def test_the_build_context_keeps_sources_and_drops_local_state() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]

    def ignored(path: str) -> bool:
        return any(fnmatch.fnmatch(path, p) or fnmatch.fnmatch(path, p.removeprefix("**/")) for p in patterns)

    for kept in ("pyproject.toml", "uv.lock", "libs", "services", "sandboxes"):
        assert not ignored(kept), kept
    for dropped in (".venv", ".git", "tests", "libs/operator/.venv", "services/audit/__pycache__"):
        assert ignored(dropped) or ignored(Path(dropped).name), dropped
