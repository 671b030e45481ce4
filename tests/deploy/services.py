"""What the deployment files are checked against: every Herald process, read from the code itself.

The table is cross-checked with :func:`herald.operator.local.topology` (what ``make run`` starts), so compose,
Kubernetes and Prometheus are compared with the same names, modules and ports the local runner uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from herald.audit.settings import AuditSettings
from herald.kit.settings import ServiceSettings
from herald.media.settings import MediaSettings
from herald.objectstore import ObjectStoreSettings
from herald.operator.local import Process, topology
from herald.publishing.settings import PublisherSettings
from herald.scheduler.settings import SchedulerSettings
from herald.tokens.settings import TokensSettings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
ENV_PREFIX = "HERALD_"


@dataclass(frozen=True)
class Service:
    name: str
    module: str
    port: int
    settings: type[ServiceSettings]
    args: tuple[str, ...] = ()

    @property
    def is_publisher(self) -> bool:
        return self.name.startswith("publisher-")


SERVICES: dict[str, Service] = {
    s.name: s
    for s in (
        Service("scheduler", "herald.scheduler", 8001, SchedulerSettings),
        Service("tokens", "herald.tokens", 8002, TokensSettings),
        Service("audit", "herald.audit", 8003, AuditSettings),
        Service("media", "herald.media", 8004, MediaSettings),
        Service("publisher-x", "herald.publisher_x", 8011, PublisherSettings),
        Service("publisher-linkedin", "herald.publisher_linkedin", 8012, PublisherSettings),
        Service("publisher-meta", "herald.publisher_meta", 8013, PublisherSettings),
    )
}
SANDBOXES = {"sandbox-x": 9101, "sandbox-linkedin": 9102, "sandbox-meta": 9103}
OBJECTSTORE = ("objectstore", "herald.operator.seaweedfs", 8333)
"""The object store process (SeaweedFS's S3 gateway): name, module, port."""
OBJECTSTORE_ENV_PREFIX = "HERALD_OBJECTSTORE_"
OBJECTSTORE_USERS = frozenset({"publisher-x", "publisher-linkedin", "publisher-meta", "media"})
"""The services given ``HERALD_OBJECTSTORE_*`` in compose and Kubernetes (media keeps bytes, publishers read them)."""


def local_processes() -> list[Process]:
    """The processes ``make run`` starts (``deploy/local/run.py`` runs this topology)."""
    return topology(Path("/nonexistent/dev-token-keys.json"))


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def load_yaml_documents(path: Path) -> list[Any]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def objectstore_env_names() -> frozenset[str]:
    """The ``HERALD_OBJECTSTORE_*`` names that ``herald.objectstore.objectstore_settings_from_env`` reads."""
    settings = ObjectStoreSettings(
        endpoint_url="http://s3", public_endpoint_url="http://s3", access_key_id="a", secret_access_key="b"
    )
    return frozenset(settings.to_env())


def unknown_env_names(settings: type[BaseModel], names: list[str]) -> list[str]:
    """The ``HERALD_*`` names that no field of ``settings`` reads (nested fields with ``__``); ``HERALD_OBJECTSTORE_*``
    are read by the object store's own factory instead (``herald.objectstore``), so they are checked against it."""
    unknown = []
    for name in names:
        if not name.startswith(ENV_PREFIX):
            continue
        if name.startswith(OBJECTSTORE_ENV_PREFIX):
            # the family itself (a guide's "HERALD_OBJECTSTORE_*") or one variable the factory reads
            if name != OBJECTSTORE_ENV_PREFIX and name not in objectstore_env_names():
                unknown.append(name)
            continue
        if not _reads(settings, name.removeprefix(ENV_PREFIX).lower().split("__")):
            unknown.append(name)
    return unknown


def _reads(model: type[BaseModel], path: list[str]) -> bool:
    field = model.model_fields.get(path[0])
    if field is None:
        return False
    if len(path) == 1:
        return True
    nested = _model_of(field.annotation)
    return nested is not None and _reads(nested, path[1:])


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):  # Optional[Model]
        found = _model_of(arg)
        if found is not None:
            return found
    return None
