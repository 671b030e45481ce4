"""The local topology: every Herald process with its port and environment, wired to the platform sandboxes and to
the object store (SeaweedFS, :mod:`herald.operator.seaweedfs`).

Started by :mod:`herald.operator.local_starter`, for ``make run`` (``deploy/local/run.py``, the ports below) and
for the end-to-end tests, the chaos tests and the benchmark (the same processes on ports the kernel picks, against
their own vhost and database). Each publisher gets a fresh credential for the token service.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel

from herald.contracts.platform import Platform
from herald.objectstore import ObjectStoreSettings
from herald.operator import seaweedfs
from herald.platforms.linkedin import LinkedInSettings
from herald.platforms.meta import MetaSettings
from herald.platforms.x import XSettings

DEV_TIERS_MS = (2_000, 4_000, 8_000, 16_000, 32_000, 64_000, 120_000)
"""Development retry tiers: seconds instead of minutes, so a retry shows up while you watch."""


@dataclass(frozen=True)
class Process:
    """One process of the topology: ``python -m <module> <args>`` serving HTTP on ``port``."""

    name: str
    port: int
    module: str
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    ready_path: str = "/readyz"
    """Answers 200 once the process does its work (a sandbox has only its liveness probe)."""
    fd_option: str | None = None
    """How the process takes the listening socket the starter bound for it: this command-line option followed by
    the descriptor, or (``None``) the ``HERALD_HTTP_FD`` setting of every service."""
    binds_itself: bool = False
    """The process binds ``port`` on its own (the local Prometheus): the starter hands it no socket."""


@dataclass(frozen=True)
class Ports:
    scheduler: int = 8001
    tokens: int = 8002
    audit: int = 8003
    media: int = 8004
    publishers: Mapping[Platform, int] = field(
        default_factory=lambda: {Platform.X: 8011, Platform.LINKEDIN: 8012, Platform.META: 8013}
    )
    sandboxes: Mapping[Platform, int] = field(
        default_factory=lambda: {Platform.X: 9101, Platform.LINKEDIN: 9102, Platform.META: 9103}
    )
    objectstore: seaweedfs.SeaweedPorts = field(default_factory=seaweedfs.SeaweedPorts)
    """SeaweedFS's ports; its S3 gateway (``objectstore.s3``, 8333) is the object store's endpoint."""


OBJECTSTORE_ACCESS_KEY_ID = "herald-local"


def objectstore_settings(ports: Ports, secret_access_key: str) -> ObjectStoreSettings:
    """How every service reaches the local SeaweedFS (bucket ``herald-media``, created by the media service)."""
    return ObjectStoreSettings(
        endpoint_url=f"http://127.0.0.1:{ports.objectstore.s3}",
        access_key_id=OBJECTSTORE_ACCESS_KEY_ID,
        secret_access_key=secret_access_key,
    )


def objectstore_process(ports: Ports, data_dir: Path, settings: ObjectStoreSettings) -> Process:
    """``python -m herald.operator.seaweedfs``: SeaweedFS with its data in ``data_dir``, ready when S3 answers.

    SeaweedFS binds its eight ports itself; the identity comes in the environment, never on the command line."""
    identity = {
        seaweedfs.ACCESS_KEY_ENV: settings.access_key_id,
        seaweedfs.SECRET_KEY_ENV: settings.secret_access_key,
    }
    args = ("--data-dir", str(data_dir), *ports.objectstore.args())
    return Process(
        "objectstore",
        ports.objectstore.s3,
        "herald.operator.seaweedfs",
        args,
        env=identity,
        ready_path="/healthz",
        binds_itself=True,
    )


def sandbox_process(
    platform: Platform, port: int, module: str = "herald.sandboxes", extra_args: tuple[str, ...] = ()
) -> Process:
    """``python -m <module> <platform> --port N``; its liveness is its readiness; it takes a socket as ``--fd``."""
    args = (platform.value, "--port", str(port), *extra_args)
    return Process(f"sandbox-{platform.value}", port, module, args, ready_path="/healthz", fd_option="--fd")


def write_key_ring(path: Path, key_id: str) -> Path:
    """A token-service key ring (``HERALD_TOKEN_KEYS_FILE``) with one fresh AES-256 key, readable by its owner only."""
    key = base64.b64encode(secrets.token_bytes(32)).decode()
    path.write_text(json.dumps({"primary": key_id, "keys": {key_id: key}}))
    path.chmod(0o600)
    return path


def settings_env(prefix: str, settings: BaseModel) -> dict[str, str]:
    """Environment variables that rebuild ``settings`` nested under ``HERALD_<PREFIX>__``."""
    env = {}
    for name, value in settings.model_dump(mode="json", round_trip=True).items():
        raw = value if isinstance(value, str) else json.dumps(value)
        env[f"HERALD_{prefix.upper()}__{name.upper()}"] = raw
    for name in ("client_secret",):
        secret = getattr(settings, name, None)
        if secret is not None:
            env[f"HERALD_{prefix.upper()}__{name.upper()}"] = secret.get_secret_value()
    return env


def sandbox_env(ports: Ports) -> dict[str, str]:
    """Every platform's settings pointing at its local sandbox."""
    url = {p: f"http://127.0.0.1:{port}" for p, port in ports.sandboxes.items()}
    return {
        **settings_env("x", XSettings.for_sandbox(url[Platform.X])),
        **settings_env("linkedin", LinkedInSettings.for_sandbox(url[Platform.LINKEDIN])),
        **settings_env("meta", MetaSettings.for_sandbox(url[Platform.META])),
    }


def media_wiring(ports: Ports) -> tuple[dict[str, str], dict[str, str]]:
    """The media service and the scheduler call each other's internal API (resolve; holders), each with a fresh
    credential of its own: ``(media's environment, the scheduler's)``."""
    media_secret, scheduler_secret = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    media_env = {
        "HERALD_SERVICE_TOKEN": f"svc_media_{media_secret}",
        "HERALD_SERVICE_CREDENTIALS": json.dumps({"scheduler": hashlib.sha256(scheduler_secret.encode()).hexdigest()}),
        "HERALD_SCHEDULER_URL": f"http://127.0.0.1:{ports.scheduler}",
        "HERALD_PUBLIC_BASE_URL": f"http://127.0.0.1:{ports.media}",
    }
    scheduler_env = {
        "HERALD_SERVICE_TOKEN": f"svc_scheduler_{scheduler_secret}",
        "HERALD_SERVICE_CREDENTIALS": json.dumps({"media": hashlib.sha256(media_secret.encode()).hexdigest()}),
        "HERALD_MEDIA_URL": f"http://127.0.0.1:{ports.media}",
    }
    return media_env, scheduler_env


def topology(
    key_file: Path,
    ports: Ports | None = None,
    *,
    retry_tiers_ms: tuple[int, ...] = DEV_TIERS_MS,
    common_env: Mapping[str, str] | None = None,
    state_dir: Path | None = None,
) -> list[Process]:
    """The object store and the sandboxes first, then the services. ``common_env`` (database, broker...) and the
    object store's ``HERALD_OBJECTSTORE_*`` go to every service. The object store keeps its data in
    ``<state_dir>/objectstore`` (default: next to ``key_file``)."""
    ports = ports or Ports()
    store = objectstore_settings(ports, secrets.token_urlsafe(32))
    state = state_dir if state_dir is not None else key_file.parent
    common_env = {**(common_env or {}), **store.to_env()}
    shared = {**common_env, **sandbox_env(ports)}
    credentials: dict[str, str] = {}
    publishers = []
    for platform, port in ports.publishers.items():
        name = f"publisher-{platform.value}"
        secret = secrets.token_urlsafe(32)
        credentials[name] = hashlib.sha256(secret.encode()).hexdigest()
        env = {
            **shared,
            "HERALD_SERVICE_TOKEN": f"svc_{name}_{secret}",
            "HERALD_TOKENS_URL": f"http://127.0.0.1:{ports.tokens}",
            "HERALD_RETRY_TIERS_MS": json.dumps(list(retry_tiers_ms)),
        }
        publishers.append(Process(name, port, f"herald.publisher_{platform.value}", env=env))
    sandboxes = [sandbox_process(p, port) for p, port in ports.sandboxes.items()]
    tokens_env = {
        **shared,
        "HERALD_SERVICE_CREDENTIALS": json.dumps(credentials),
        "HERALD_TOKEN_KEYS_FILE": str(key_file),
        "HERALD_PUBLIC_BASE_URL": f"http://127.0.0.1:{ports.tokens}",
    }
    media_env, scheduler_media_env = media_wiring(ports)
    return [
        objectstore_process(ports, state / "objectstore", store),
        *sandboxes,
        Process("tokens", ports.tokens, "herald.tokens", env=tokens_env),
        Process("scheduler", ports.scheduler, "herald.scheduler", env={**common_env, **scheduler_media_env}),
        Process("audit", ports.audit, "herald.audit", env=dict(common_env)),
        Process("media", ports.media, "herald.media", env={**common_env, **media_env}),
        *publishers,
    ]
