"""deploy/k8s: both overlays render with kustomize (``kubectl kustomize``), every object validates against the
Kubernetes schemas (kubernetes-validate, strict: unknown fields fail) or, for KEDA, against its CRD's shape; every
reference resolves; and the Deployments match the services (module, port, probes, settings, security, shutdown)."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml

from herald.kit.settings import load_settings
from herald.objectstore import objectstore_settings_from_env
from tests.deploy.keda import RABBITMQ_TRIGGER_METADATA, SCHEMAS
from tests.deploy.services import (
    DEPLOY,
    OBJECTSTORE_USERS,
    SERVICES,
    load_yaml,
    load_yaml_documents,
    unknown_env_names,
)

K8S = DEPLOY / "k8s"
OVERLAYS = ["local", "production"]
KUBERNETES_VERSION = "1.31.0"
SECRETS_EXAMPLE = K8S / "base" / "secrets.example.yaml"
Doc = dict[str, Any]


@cache
def render(overlay: str) -> tuple[Doc, ...]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.fail("kubectl not found: it renders the kustomizations (kubectl kustomize)")
    result = subprocess.run(
        [kubectl, "kustomize", str(K8S / "overlays" / overlay)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def of_kind(docs: tuple[Doc, ...], kind: str) -> list[Doc]:
    return [doc for doc in docs if doc["kind"] == kind]


def named(docs: tuple[Doc, ...], kind: str) -> dict[str, Doc]:
    return {doc["metadata"]["name"]: doc for doc in of_kind(docs, kind)}


def external_secrets() -> dict[str, Doc]:
    """Production's Secrets come from the operator's secret store; their keys are listed in the example."""
    return {doc["metadata"]["name"]: doc for doc in load_yaml_documents(SECRETS_EXAMPLE)}


def secrets_of(overlay: str) -> dict[str, set[str]]:
    docs = render(overlay)
    found = {name: set(doc.get("data", {}) | doc.get("stringData", {})) for name, doc in named(docs, "Secret").items()}
    if overlay == "production":
        found |= {name: set(doc.get("stringData") or {}) for name, doc in external_secrets().items()}
    return found


def pod_specs(docs: tuple[Doc, ...]) -> Iterator[tuple[Doc, Doc]]:
    for doc in docs:
        if doc["kind"] in {"Deployment", "StatefulSet"}:
            yield doc, doc["spec"]["template"]["spec"]


# -- schemas ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_validates_against_its_schema(overlay: str) -> None:
    docs = render(overlay)
    assert docs
    for doc in docs:
        if doc["kind"] in SCHEMAS:
            jsonschema.validate(doc, SCHEMAS[doc["kind"]])
        else:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_the_example_secrets_validate_and_are_not_deployed() -> None:
    for doc in external_secrets().values():
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    for path in K8S.rglob("kustomization.yaml"):
        kustomization = load_yaml(path)
        assert "secrets.example.yaml" not in [*kustomization.get("resources", []), *kustomization.get("components", [])]


def test_the_validator_rejects_a_misspelt_field() -> None:
    deployment = named(render("production"), "Deployment")["scheduler"]
    broken = json.loads(json.dumps(deployment))
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProbes"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)
    scaled = json.loads(json.dumps(of_kind(render("production"), "ScaledObject")[0]))
    scaled["spec"]["maxReplicas"] = 3
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(scaled, SCHEMAS["ScaledObject"])


# -- kustomize structure ----------------------------------------------------------------------------------------


def kustomizations() -> list[Path]:
    return sorted(K8S.rglob("kustomization.yaml"))


@pytest.mark.parametrize("path", kustomizations(), ids=lambda p: str(p.parent.relative_to(K8S)))
def test_every_file_a_kustomization_names_exists(path: Path) -> None:
    kustomization = load_yaml(path)
    names = [*kustomization.get("resources", []), *kustomization.get("components", [])]
    for generator in kustomization.get("configMapGenerator", []) + kustomization.get("secretGenerator", []):
        names += generator.get("files", []) + generator.get("envs", [])
    names += [patch["path"] for patch in kustomization.get("patches", []) if "path" in patch]
    assert names
    for name in names:
        target = (path.parent / name).resolve()
        assert (target.is_dir() and (target / "kustomization.yaml").exists()) or target.is_file(), f"{path}: {name}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_everything_is_in_the_herald_namespace(overlay: str) -> None:
    for doc in render(overlay):
        if doc["kind"] != "Namespace":
            assert doc["metadata"].get("namespace") == "herald", (doc["kind"], doc["metadata"]["name"])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_reference_resolves(overlay: str) -> None:
    docs = render(overlay)
    config_maps, secrets = set(named(docs, "ConfigMap")), secrets_of(overlay)
    deployments = named(docs, "Deployment") | named(docs, "StatefulSet")
    for owner, spec in pod_specs(docs):
        containers = spec.get("initContainers", []) + spec["containers"]
        for container in containers:
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    assert source["configMapRef"]["name"] in config_maps, owner["metadata"]["name"]
                else:
                    assert source["secretRef"]["name"] in secrets, owner["metadata"]["name"]
            volumes = {volume["name"] for volume in spec.get("volumes", [])}
            claims = {claim["metadata"]["name"] for claim in owner["spec"].get("volumeClaimTemplates", [])}
            for mount in container.get("volumeMounts", []):
                assert mount["name"] in volumes | claims, (owner["metadata"]["name"], mount["name"])
        for volume in spec.get("volumes", []):
            if "configMap" in volume:
                assert volume["configMap"]["name"] in config_maps
            if "secret" in volume:
                assert volume["secret"]["secretName"] in secrets
        if spec.get("serviceAccountName"):
            assert spec["serviceAccountName"] in named(docs, "ServiceAccount")

    pod_labels = [owner["spec"]["template"]["metadata"]["labels"] for owner in deployments.values()]
    for kind in ("Service", "PodDisruptionBudget"):
        for doc in of_kind(docs, kind):
            selector = doc["spec"]["selector"]
            selector = selector.get("matchLabels", selector)
            assert any(selector.items() <= labels.items() for labels in pod_labels), doc["metadata"]["name"]
    for doc in of_kind(docs, "ScaledObject") + of_kind(docs, "HorizontalPodAutoscaler"):
        assert doc["spec"]["scaleTargetRef"]["name"] in named(docs, "Deployment")
    for doc in of_kind(docs, "ScaledObject"):
        for trigger in doc["spec"]["triggers"]:
            assert trigger["authenticationRef"]["name"] in named(docs, "TriggerAuthentication")
    for doc in of_kind(docs, "TriggerAuthentication"):
        for ref in doc["spec"]["secretTargetRef"]:
            assert ref["key"] in secrets[ref["name"]]
    for doc in of_kind(docs, "Ingress"):
        for rule in doc["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                ports = {p["name"] for p in named(docs, "Service")[backend["name"]]["spec"]["ports"]}
                assert backend["port"]["name"] in ports


# -- the Herald Deployments -------------------------------------------------------------------------------------


def herald_deployments(overlay: str) -> dict[str, Doc]:
    return {name: doc for name, doc in named(render(overlay), "Deployment").items() if name in SERVICES}


def environment(overlay: str, spec: Doc, container: Doc) -> dict[str, str]:
    """The environment a container gets from its ConfigMaps and Secrets (keys only for external Secrets)."""
    docs = render(overlay)
    config_maps = named(docs, "ConfigMap")
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env |= config_maps[source["configMapRef"]["name"]]["data"]
        else:
            env |= dict.fromkeys(secrets_of(overlay)[source["secretRef"]["name"]], "<secret>")
    env |= {item["name"]: item.get("value", "") for item in container.get("env", [])}
    return env


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_deployment_runs_its_service_with_probes_security_and_a_long_enough_grace(overlay: str) -> None:
    deployments = herald_deployments(overlay)
    assert set(deployments) == set(SERVICES)
    for name, doc in deployments.items():
        service = SERVICES[name]
        spec = doc["spec"]["template"]["spec"]
        (container,) = spec["containers"]
        assert container["command"] == ["python", "-m", service.module]
        assert container["ports"] == [{"name": "http", "containerPort": service.port, "protocol": "TCP"}]
        env = environment(overlay, spec, container)
        assert env["HERALD_HTTP_PORT"] == str(service.port)
        assert env["HERALD_HTTP_HOST"] == "0.0.0.0"
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
        assert {"cpu", "memory"} <= set(container["resources"]["requests"])
        assert "memory" in container["resources"]["limits"]
        annotations = doc["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/port"] == str(service.port)
        # Non-root, read-only root filesystem, nothing extra.
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] != 0
        assert spec["automountServiceAccountToken"] is False
        for each in [*spec["initContainers"], container]:
            security = each["securityContext"]
            assert security["readOnlyRootFilesystem"] is True
            assert security["allowPrivilegeEscalation"] is False
            assert security["capabilities"]["drop"] == ["ALL"]
            assert {m["mountPath"] for m in each["volumeMounts"]} >= {"/tmp"}
        # Shutdown: the broker's graceful timeout plus the preStop pause must fit in the grace period.
        pause = container["lifecycle"]["preStop"]["sleep"]["seconds"]
        assert spec["terminationGracePeriodSeconds"] > float(env["HERALD_GRACEFUL_TIMEOUT_SECONDS"]) + pause


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_variable_is_a_settings_field(overlay: str) -> None:
    for name, doc in herald_deployments(overlay).items():
        spec = doc["spec"]["template"]["spec"]
        for container in [*spec["initContainers"], *spec["containers"]]:
            env = environment(overlay, spec, container)
            assert unknown_env_names(SERVICES[name].settings, list(env)) == [], (overlay, name)
            assert [key for key in env if not key.startswith("HERALD_")] == []


def test_the_local_overlay_settings_load(monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = named(render("local"), "Secret")
    for name, doc in herald_deployments("local").items():
        spec = doc["spec"]["template"]["spec"]
        (container,) = spec["containers"]
        values = environment("local", spec, container)
        for source in container["envFrom"]:
            if "secretRef" in source:
                values |= {k: _decode(v) for k, v in secrets[source["secretRef"]["name"]]["data"].items()}
        with monkeypatch.context() as patched:
            for key in list(os.environ):
                if key.startswith("HERALD_"):
                    patched.delenv(key)
            for key, value in values.items():
                patched.setenv(key, value)
            if "HERALD_TOKEN_KEYS_FILE" in values:
                patched.delenv("HERALD_TOKEN_KEYS_FILE")  # a mounted file; its content is checked below
            overrides: dict[str, Any] = {}
            if SERVICES[name].is_publisher:
                overrides = {"platform": name.removeprefix("publisher-"), "service_name": name}
            settings = load_settings(SERVICES[name].settings, **overrides)
        assert settings.http_port == SERVICES[name].port


def _decode(value: str) -> str:
    return base64.b64decode(value).decode()


def test_migrations_run_in_an_init_container_of_the_same_image() -> None:
    for name, doc in herald_deployments("production").items():
        spec = doc["spec"]["template"]["spec"]
        (init,) = spec["initContainers"]
        assert init["image"] == spec["containers"][0]["image"]
        assert init["command"] == ["python", "/etc/herald/migrate/migrate.py", SERVICES[name].module]
        assert init["envFrom"] == spec["containers"][0]["envFrom"]
        mount = next(m for m in init["volumeMounts"] if m["mountPath"] == "/etc/herald/migrate")
        volume = next(v for v in spec["volumes"] if v["name"] == mount["name"])
        config_map = named(render("production"), "ConfigMap")[volume["configMap"]["name"]]
        assert config_map["data"]["migrate.py"] == (K8S / "base" / "migrate.py").read_text()


# -- network policies -------------------------------------------------------------------------------------------


def _admitted(policies: list[Doc], pod_labels: dict[str, str]) -> list[Doc]:
    """The ``from`` peers of every policy that selects a pod with ``pod_labels``."""
    peers = []
    for policy in policies:
        if _selects(policy["spec"]["podSelector"], pod_labels):
            for rule in policy["spec"].get("ingress", []):
                peers.extend(rule.get("from", [{}]))
    return peers


def _selects(selector: Doc, labels: dict[str, str]) -> bool:
    if not set(selector) <= {"matchLabels", "matchExpressions"}:
        return False
    if not selector.get("matchLabels", {}).items() <= labels.items():
        return False
    for expression in selector.get("matchExpressions", []):
        assert expression["operator"] == "In"
        if labels.get(expression["key"]) not in expression["values"]:
            return False
    return True


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_only_publishers_reach_the_token_service_inside_the_cluster(overlay: str) -> None:
    docs = render(overlay)
    policies = of_kind(docs, "NetworkPolicy")
    assert any(p["spec"]["podSelector"] == {} and "ingress" not in p["spec"] for p in policies), "no default deny"
    deployments = named(docs, "Deployment") | named(docs, "StatefulSet")
    tokens_labels = deployments["tokens"]["spec"]["template"]["metadata"]["labels"]
    peers = _admitted(policies, tokens_labels)
    in_namespace = [peer["podSelector"] for peer in peers if "podSelector" in peer]
    other_namespaces = {
        peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        for peer in peers
        if "namespaceSelector" in peer
    }
    reaching = {
        name
        for name, doc in deployments.items()
        if any(_selects(selector, doc["spec"]["template"]["metadata"]["labels"]) for selector in in_namespace)
    }
    assert reaching == {name for name in SERVICES if SERVICES[name].is_publisher}
    assert other_namespaces == {"ingress-nginx", "monitoring"}
    for ingress in of_kind(docs, "Ingress"):
        for rule in ingress["spec"]["rules"]:
            assert all(path["path"].startswith("/v1") for path in rule["http"]["paths"])


# -- autoscaling ------------------------------------------------------------------------------------------------


def test_production_scales_each_publisher_on_its_queue_with_keda() -> None:
    docs = render("production")
    scaled = named(docs, "ScaledObject")
    assert set(scaled) == {name for name in SERVICES if SERVICES[name].is_publisher}
    for name, doc in scaled.items():
        work_queue = f"publisher.{name.removeprefix('publisher-')}"
        triggers = doc["spec"]["triggers"]
        assert all(t["type"] == "rabbitmq" for t in triggers)
        assert all(set(t["metadata"]) <= RABBITMQ_TRIGGER_METADATA for t in triggers)
        assert [t["metadata"]["queueName"] for t in triggers] == [work_queue, f"{work_queue}.media"]
        assert doc["spec"]["fallback"]["replicas"] >= doc["spec"]["minReplicaCount"]
        assert "replicas" not in named(docs, "Deployment")[name]["spec"]  # KEDA's HPA owns it
    assert not of_kind(docs, "HorizontalPodAutoscaler")


def test_the_hpa_fallback_scales_publishers_without_keda() -> None:
    docs = render("local")
    hpas = named(docs, "HorizontalPodAutoscaler")
    assert set(hpas) == {name for name in SERVICES if SERVICES[name].is_publisher}
    assert not of_kind(docs, "ScaledObject")
    for name in hpas:
        assert "replicas" not in named(docs, "Deployment")[name]["spec"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_herald_deployment_has_a_disruption_budget_and_a_headless_service(overlay: str) -> None:
    docs = render(overlay)
    budgets = named(docs, "PodDisruptionBudget")
    services = named(docs, "Service")
    for name in SERVICES:
        assert budgets[name]["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": name}
        assert services[f"{name}-pods"]["spec"]["clusterIP"] == "None"
        assert services[name]["spec"]["ports"][0]["port"] == SERVICES[name].port


def test_the_local_overlay_runs_the_sandboxes_and_points_at_them() -> None:
    docs = render("local")
    deployments = named(docs, "Deployment")
    for platform, port in (("x", 9101), ("linkedin", 9102), ("meta", 9103)):
        sandbox = deployments[f"sandbox-{platform}"]["spec"]["template"]["spec"]["containers"][0]
        assert sandbox["command"][:4] == ["python", "-m", "herald.sandboxes", platform]
        assert sandbox["command"][-1] == str(port)
    urls = re.compile(r"^http://(sandbox-(x|linkedin|meta)|localhost):(\d+)")
    config_maps = named(docs, "ConfigMap")
    for name in ("tokens", "publisher-x", "publisher-linkedin", "publisher-meta"):
        platform_urls = {
            k: v for k, v in config_maps[f"herald-{name}"]["data"].items() if k.endswith("_URL") and "__" in k
        }
        assert platform_urls, name
        for key, value in platform_urls.items():
            assert urls.match(value), (name, key, value)


# -- the object store -------------------------------------------------------------------------------------------


def _resolved_env(overlay: str, container: Doc) -> dict[str, str]:
    """A container's environment with the values of generated Secrets (the local overlay's) decoded."""
    docs = render(overlay)
    config_maps, secrets = named(docs, "ConfigMap"), named(docs, "Secret")
    values: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            values |= config_maps[source["configMapRef"]["name"]]["data"]
        else:
            values |= {k: _decode(v) for k, v in secrets[source["secretRef"]["name"]]["data"].items()}
    return values


def test_the_local_overlay_runs_seaweedfs_and_its_users_hold_its_identity() -> None:
    docs = render("local")
    store = named(docs, "StatefulSet")["objectstore"]
    spec = store["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    assert container["command"][:3] == ["python", "-m", "herald.operator.seaweedfs"]
    assert container["image"] == "herald/operator:dev"
    data_dir = container["command"][container["command"].index("--data-dir") + 1]
    (claim,) = store["spec"]["volumeClaimTemplates"]
    data_mount = next(m for m in container["volumeMounts"] if m["name"] == claim["metadata"]["name"])
    assert data_dir.startswith(data_mount["mountPath"] + "/")  # on the volume, not the read-only root filesystem
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert spec["securityContext"]["runAsUser"] == spec["securityContext"]["fsGroup"] == 10001
    assert container["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "s3"}
    service = named(docs, "Service")["objectstore"]
    (port,) = service["spec"]["ports"]
    identity = _resolved_env("local", container)

    users = [name for name in SERVICES if SERVICES[name].is_publisher]
    deployments = named(docs, "Deployment")
    for name in users:
        env = _resolved_env("local", deployments[name]["spec"]["template"]["spec"]["containers"][0])
        settings = objectstore_settings_from_env(env)
        assert settings.endpoint_url == f"http://{service['metadata']['name']}:{port['port']}"
        assert settings.presign_endpoint_url == settings.endpoint_url  # the sandboxes fetch presigned URLs here
        assert settings.bucket == "herald-media"
        assert settings.access_key_id == identity["HERALD_OBJECTSTORE_ACCESS_KEY_ID"]
        assert settings.secret_access_key == identity["HERALD_OBJECTSTORE_SECRET_ACCESS_KEY"]

    policies = of_kind(docs, "NetworkPolicy")
    store_labels = store["spec"]["template"]["metadata"]["labels"]
    selectors = [peer["podSelector"] for peer in _admitted(policies, store_labels) if "podSelector" in peer]
    for name in [*users, "sandbox-meta"]:  # the sandbox fetches presigned URLs, as Instagram does
        labels = deployments[name]["spec"]["template"]["metadata"]["labels"]
        assert any(_selects(selector, labels) for selector in selectors), name


def test_production_uses_an_external_s3_with_keys_from_the_secret_store() -> None:
    docs = render("production")
    assert "objectstore" not in named(docs, "StatefulSet")
    config = named(docs, "ConfigMap")["herald-objectstore"]["data"]
    assert config["HERALD_OBJECTSTORE_ENDPOINT_URL"].startswith("https://")
    assert secrets_of("production")["herald-objectstore"] == {
        "HERALD_OBJECTSTORE_ACCESS_KEY_ID",
        "HERALD_OBJECTSTORE_SECRET_ACCESS_KEY",
    }
    for name, doc in herald_deployments("production").items():
        sources = doc["spec"]["template"]["spec"]["containers"][0]["envFrom"]
        has_store = {"configMapRef": {"name": "herald-objectstore"}} in sources
        assert has_store == (name in OBJECTSTORE_USERS), name
        assert has_store == ({"secretRef": {"name": "herald-objectstore"}} in sources), name
