"""docker-compose.yml, parsed and checked against the services themselves (``make compose-test`` also runs it for
real, with deploy/compose-test). Every service is present with its real module, port, health check and settings; every
``HERALD_*`` variable is a field of the service's settings class and loads; credentials match one another."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
from typing import Any
from urllib.parse import urlsplit

import pytest

from herald.kit.settings import load_settings
from herald.objectstore import objectstore_settings_from_env
from herald.publishing.settings import PublisherSettings
from herald.tokens.settings import TokensSettings
from tests.deploy.services import (
    DEPLOY,
    OBJECTSTORE,
    OBJECTSTORE_USERS,
    ROOT,
    SANDBOXES,
    SERVICES,
    load_yaml,
    local_processes,
    unknown_env_names,
)

COMPOSE = load_yaml(ROOT / "docker-compose.yml")
SERVICE_TOKEN = re.compile(r"^svc_([a-z0-9-]+)_([A-Za-z0-9_-]{43})$")  # herald.kit.auth's format
INFRA = {"rabbitmq", "postgres", "prometheus", "grafana", "operator", "objectstore"}


def compose_service(name: str) -> dict[str, Any]:
    service: dict[str, Any] = COMPOSE["services"][name]
    return service


def environment(name: str) -> dict[str, str]:
    return {key: str(value) for key, value in compose_service(name).get("environment", {}).items()}


def test_the_local_runner_agrees_with_the_service_table() -> None:
    table = {p.name: (p.module, p.port) for p in local_processes()}
    name, module, port = OBJECTSTORE
    assert table.pop(name) == (module, port)
    assert {name: (s.module, s.port) for name, s in SERVICES.items()} == {
        name: value for name, value in table.items() if not name.startswith("sandbox-")
    }
    assert {name: port for name, (_, port) in table.items() if name.startswith("sandbox-")} == SANDBOXES


def test_every_process_is_in_compose_and_nothing_unknown() -> None:
    assert set(COMPOSE["services"]) == set(SERVICES) | set(SANDBOXES) | INFRA


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_each_service_runs_its_module_on_its_port_with_a_readiness_check(name: str) -> None:
    service, expected = compose_service(name), SERVICES[name]
    assert service["command"] == ["python", "-m", expected.module]
    assert importlib.util.find_spec(expected.module) is not None
    assert service["build"]["args"] == {"SERVICE": name, "SERVICE_MODULE": expected.module}
    assert environment(name)["HERALD_HTTP_PORT"] == str(expected.port)
    assert environment(name)["HERALD_HTTP_HOST"] == "0.0.0.0"
    assert service["ports"] == [f"{expected.port}:{expected.port}"]
    assert f"http://127.0.0.1:{expected.port}/readyz" in " ".join(service["healthcheck"]["test"])
    assert service["depends_on"]["rabbitmq"]["condition"] == "service_healthy"
    assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
    # Non-root, read-only, and stopped more slowly than in-flight messages are given to finish.
    assert service["user"] == "10001:10001"
    assert service["read_only"] is True
    grace = int(service["stop_grace_period"].removesuffix("s"))
    assert grace > float(environment(name)["HERALD_GRACEFUL_TIMEOUT_SECONDS"])


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_variable_is_read_by_the_settings_class_and_loads(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    cls, env = SERVICES[name].settings, environment(name)
    assert unknown_env_names(cls, list(env)) == []
    assert [key for key in env if not key.startswith("HERALD_")] == []
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    overrides: dict[str, Any] = {}
    if SERVICES[name].is_publisher:  # what herald.publishing.app.main passes
        overrides = {"platform": name.removeprefix("publisher-"), "service_name": name}
    settings = load_settings(cls, **overrides)
    assert settings.http_port == SERVICES[name].port
    assert urlsplit(settings.amqp_url.get_secret_value()).hostname == "rabbitmq"
    assert urlsplit(settings.database_url.get_secret_value()).hostname == "postgres"


def test_the_checker_would_catch_a_misspelt_variable() -> None:
    assert unknown_env_names(
        PublisherSettings,
        [
            "HERALD_TOKEN_URL",
            "HERALD_X__API_URL",
            "HERALD_X__API_BASE_URL",
            "HERALD_OBJECTSTORE_ENDPOINT",
            "HERALD_OBJECTSTORE_ENDPOINT_URL",
        ],
    ) == ["HERALD_TOKEN_URL", "HERALD_X__API_URL", "HERALD_OBJECTSTORE_ENDPOINT"]


def test_the_object_store_runs_seaweedfs_with_the_identity_its_users_are_given() -> None:
    name, module, port = OBJECTSTORE
    store = compose_service(name)
    command = store["command"]
    assert command[:3] == ["python", "-m", module]
    assert importlib.util.find_spec(module) is not None
    assert command[command.index("--s3-bind") + 1] == "0.0.0.0"
    data_dir = command[command.index("--data-dir") + 1]
    (volume,) = store["volumes"]
    source, target = volume.split(":")
    assert source in COMPOSE["volumes"]
    assert data_dir.startswith(target + "/")  # the data on the named volume, not in the read-only image
    assert store["ports"] == [f"{port}:{port}"]
    assert f"http://127.0.0.1:{port}/healthz" in " ".join(store["healthcheck"]["test"])
    assert (store["user"], store["read_only"]) == ("10001:10001", True)
    identity = {key: str(value) for key, value in store["environment"].items()}
    users = {
        svc
        for svc in set(COMPOSE["services"]) - {name}
        if any(k.startswith("HERALD_OBJECTSTORE_") for k in environment(svc))
    }
    assert users == OBJECTSTORE_USERS & set(COMPOSE["services"])
    assert {"publisher-x", "publisher-linkedin", "publisher-meta"} <= users
    for user in users:
        settings = objectstore_settings_from_env(environment(user))
        assert settings.endpoint_url == f"http://{name}:{port}"
        assert settings.bucket == "herald-media"
        assert settings.access_key_id == identity["HERALD_OBJECTSTORE_ACCESS_KEY_ID"]
        assert settings.secret_access_key == identity["HERALD_OBJECTSTORE_SECRET_ACCESS_KEY"]
        assert compose_service(user)["depends_on"][name] == {"condition": "service_healthy"}


def test_publisher_credentials_match_the_token_service(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in environment("tokens").items():
        monkeypatch.setenv(key, value)
    tokens = load_settings(TokensSettings)
    assert set(tokens.service_credentials) == {name for name in SERVICES if SERVICES[name].is_publisher}
    for name in tokens.service_credentials:
        match = SERVICE_TOKEN.match(environment(name)["HERALD_SERVICE_TOKEN"])
        assert match is not None, name
        assert match.group(1) == name
        assert hashlib.sha256(match.group(2).encode()).hexdigest() == tokens.service_credentials[name]
        assert environment(name)["HERALD_TOKENS_URL"] == f"http://tokens:{SERVICES['tokens'].port}"


def test_platform_urls_point_at_the_sandboxes_the_compose_file_runs() -> None:
    sandbox_urls = {f"http://{name}:{port}" for name, port in SANDBOXES.items()}
    for name in SERVICES:
        for key, value in environment(name).items():
            if key.endswith(("__API_BASE_URL", "__GRAPH_URL", "__TOKEN_URL")):
                assert any(value.startswith(url) for url in sandbox_urls), (name, key, value)


@pytest.mark.parametrize("name", sorted(SANDBOXES))
def test_sandboxes_are_in_their_profile_on_their_ports(name: str) -> None:
    service, port = compose_service(name), SANDBOXES[name]
    assert service["profiles"] == ["sandboxes"]
    platform = name.removeprefix("sandbox-")
    assert service["command"] == [
        "python",
        "-m",
        "herald.sandboxes",
        platform,
        "--host",
        "0.0.0.0",
        "--port",
        str(port),
    ]
    assert service["ports"] == [f"{port}:{port}"]
    assert service["build"]["args"]["SERVICE"] == "sandboxes"
    for publisher in SERVICES.values():
        depends = compose_service(publisher.name).get("depends_on", {})
        if publisher.name == f"publisher-{platform}":
            assert depends[name] == {"condition": "service_started", "required": False}


def test_rabbitmq_has_management_and_prometheus_plugins_and_prometheus_grafana_are_wired() -> None:
    plugins = COMPOSE["configs"]["rabbitmq_plugins"]["content"]
    assert "rabbitmq_management" in plugins
    assert "rabbitmq_prometheus" in plugins
    rabbit = compose_service("rabbitmq")
    assert "15692:15692" in rabbit["ports"]
    assert rabbit["configs"][0]["target"] == "/etc/rabbitmq/enabled_plugins"

    prometheus = compose_service("prometheus")
    mounts = dict(volume.split(":")[:2] for volume in prometheus["volumes"] if volume.startswith("./"))
    config = prometheus["command"][0].removeprefix("--config.file=")
    assert mounts["./deploy/prometheus"] == "/etc/prometheus/herald"
    assert (DEPLOY / "prometheus" / config.removeprefix("/etc/prometheus/herald/")).is_file()

    grafana = compose_service("grafana")
    mounts = dict(volume.split(":")[:2] for volume in grafana["volumes"])
    for source in mounts:
        assert (ROOT / source).is_dir(), source
    provider = load_yaml(DEPLOY / "grafana" / "provisioning" / "dashboards" / "herald.yml")
    assert provider["providers"][0]["options"]["path"] == mounts["./deploy/grafana/dashboards"]
    datasource = load_yaml(DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml")
    assert datasource["datasources"][0]["url"] == "http://prometheus:9090"
    assert "9090:9090" in prometheus["ports"]


def test_the_operator_tool_reaches_the_broker() -> None:
    operator = compose_service("operator")
    assert operator["entrypoint"] == ["herald"]
    assert operator["build"]["args"] == {"SERVICE": "operator", "SERVICE_MODULE": "herald.operator"}
    assert json.dumps(operator["environment"]).count("rabbitmq") == 2
