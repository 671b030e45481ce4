"""The compose test's own files (deploy/compose-test), checked without Docker: the override only adjusts services the
shipped compose file has, every stand-in it names has a build target, its host ports stay clear of the ports other
runs on a shared machine use, and the driver talks to the ports the override publishes. ``make compose-test`` runs
them for real."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

from herald.operator.seaweedfs import SeaweedPorts
from tests.deploy.services import ROOT, load_yaml

HERE = ROOT / "deploy" / "compose-test"
SHIPPED = load_yaml(ROOT / "docker-compose.yml")
# Ports `make run`, the tests and the machine's own services use (the compose test must not take them), and the
# kernel's ephemeral range, where outgoing connections may already hold a port.
TAKEN = {
    5432,
    5672,
    15672,
    15692,
    9090,
    3000,
    *range(8001, 8014),
    *range(9101, 9104),
    *SeaweedPorts().__dict__.values(),
}
EPHEMERAL = range(32768, 61000)


def override() -> dict[str, Any]:
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_constructor("!override", lambda loader, node: loader.construct_sequence(node))  # type: ignore[arg-type]
    loaded: dict[str, Any] = yaml.load((HERE / "compose.override.yml").read_text(), Loader=Loader)
    return loaded


def driver() -> ModuleType:
    spec = importlib.util.spec_from_file_location("compose_test_drive", HERE / "drive.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def host_ports() -> dict[str, dict[int, int]]:
    """service -> {container port: host port} of the override."""
    found: dict[str, dict[int, int]] = {}
    for name, service in override()["services"].items():
        for mapping in service.get("ports", []):
            host, port, container = mapping.split(":")
            assert host == "127.0.0.1", mapping  # nothing listens beyond this machine
            found.setdefault(name, {})[int(container)] = int(port)
    return found


def test_the_override_only_adjusts_services_of_the_shipped_file() -> None:
    assert set(override()["services"]) <= set(SHIPPED["services"])


def test_every_published_port_is_replaced_by_a_free_one() -> None:
    ports = host_ports()
    for name, service in SHIPPED["services"].items():
        if service.get("ports"):
            shipped = {int(p.split(":")[-1]) for p in service["ports"]}
            assert set(ports.get(name, {})) == shipped or name == "grafana", name
    used = [p for mapping in ports.values() for p in mapping.values()]
    assert len(used) == len(set(used))
    assert not set(used) & TAKEN
    assert not [p for p in used if p in EPHEMERAL]


def test_grafana_is_not_started_and_its_provisioning_is_checked_instead() -> None:
    assert override()["services"]["grafana"]["profiles"] == ["grafana"]
    assert "grafana_provisioning" in (HERE / "drive.py").read_text()


def test_every_stand_in_has_a_build_target() -> None:
    dockerfile = (HERE / "standins" / "Dockerfile").read_text()
    targets = set(re.findall(r"^FROM \S+ AS (\S+)$", dockerfile, re.MULTILINE))
    images = {name: s["image"] for name, s in override()["services"].items() if "image" in s}
    assert set(images) == {"rabbitmq", "postgres", "prometheus"}
    assert set(images) <= targets
    for name in images:
        assert "image" in SHIPPED["services"][name]  # the shipped file keeps the official image
        assert not SHIPPED["services"][name]["image"].startswith("herald-local/")


def test_the_driver_uses_the_published_ports() -> None:
    drive = driver()
    ports = host_ports()
    assert drive.SCHEDULER.endswith(f":{ports['scheduler'][8001]}")
    assert drive.TOKENS.endswith(f":{ports['tokens'][8002]}")
    assert drive.AUDIT.endswith(f":{ports['audit'][8003]}")
    assert drive.PROMETHEUS.endswith(f":{ports['prometheus'][9090]}")
    for platform, port in (("x", 9101), ("linkedin", 9102), ("meta", 9103)):
        assert drive.SANDBOX[platform].endswith(f":{ports[f'sandbox-{platform}'][port]}")
    # The browser-facing OAuth URLs the token service hands out point at the same host ports.
    tokens = override()["services"]["tokens"]["environment"]
    assert tokens["HERALD_PUBLIC_BASE_URL"].endswith(f":{ports['tokens'][8002]}")
    assert f":{ports['sandbox-x'][9101]}/" in tokens["HERALD_X__AUTHORIZE_URL"]


def test_the_driver_builds_every_image_compose_runs() -> None:
    drive = driver()
    built = {s["image"] for s in SHIPPED["services"].values() if "build" in s}
    assert set(drive.herald_images()) == built
    assert set(drive.standin_images()) == {s["image"] for s in override()["services"].values() if "image" in s}


def test_ci_runs_the_compose_test_and_fails_if_it_fails() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert 'make compose-test || failed+=("make compose-test")' in ci
    assert "exit 1" in ci
    assert Path(ROOT / "deploy" / "prereqs.sh").exists()
    assert "bash deploy/prereqs.sh" in ci
