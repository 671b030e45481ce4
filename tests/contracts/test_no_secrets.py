"""No event carries a secret: no field may even be named like token, secret, password or key material."""

from __future__ import annotations

import re
from typing import Any, get_args

import pytest
from pydantic import BaseModel

from herald.contracts import EVENT_CLASSES

SECRET_NAME = re.compile(
    r"token|secret|passw|pwd|credential|bearer|cookie|session|signature|verifier|private|"
    r"auth_?code|authorization|(^|_)(api_?|access_?|signing_?|encryption_?|client_?|private_?)?key(s)?($|_)",
    re.IGNORECASE,
)
# Names that match the pattern but are not key material, each with the reason.
ALLOWED = {
    "routing_key": "an AMQP routing key",
    "storage_key": "an object's name in the media bucket, not key material (no URL, no signature)",
    # On the API key events only: the public id of a key (hk_<key id>_<secret>), which every actor already shows.
    "ApiKeyCreated.key_id": "the public id of a team API key, never its secret",
    "ApiKeyRevoked.key_id": "the public id of a team API key, never its secret",
}


def secret_like_fields(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Dotted names of fields (including fields of nested models) that look like secret material."""
    found = []
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        if SECRET_NAME.search(name) and name not in ALLOWED and f"{model.__name__}.{name}" not in ALLOWED:
            found.append(path)
        for nested in _models_in(field.annotation):
            found += secret_like_fields(nested, f"{path}.")
    return found


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for arg in get_args(annotation) for model in _models_in(arg)]


@pytest.mark.parametrize("cls", EVENT_CLASSES, ids=lambda c: c.ce_type())
def test_no_event_field_looks_like_secret_material(cls: type[BaseModel]) -> None:
    assert secret_like_fields(cls) == []


class _Grant(BaseModel):
    scope: str
    refresh_token: str


class _Leaky(BaseModel):
    account_id: str
    access_token: str
    client_secret: str
    api_key: str
    key: str
    routing_key: str
    key_id: str
    grants: list[_Grant]
    password_hash: str | None = None


def test_the_check_finds_secret_like_names_also_in_nested_models() -> None:
    assert secret_like_fields(_Leaky) == [
        "access_token",
        "client_secret",
        "api_key",
        "key",
        "key_id",
        "grants.refresh_token",
        "password_hash",
    ]
