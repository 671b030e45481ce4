"""``objectstore_settings_from_env``: what it reads, its defaults, and errors that name the variable."""

from __future__ import annotations

import pytest

from herald.objectstore import ObjectStoreConfigError, ObjectStoreSettings, objectstore_settings_from_env

pytestmark = pytest.mark.fast

MINIMAL = {
    "HERALD_OBJECTSTORE_ENDPOINT_URL": "http://127.0.0.1:8333",
    "HERALD_OBJECTSTORE_ACCESS_KEY_ID": "herald",
    "HERALD_OBJECTSTORE_SECRET_ACCESS_KEY": "a-real-secret",
}


def test_defaults() -> None:
    settings = objectstore_settings_from_env(MINIMAL)
    assert settings.bucket == "herald-media"
    assert settings.region == "us-east-1"
    assert settings.public_endpoint_url is None
    assert settings.presign_endpoint_url == "http://127.0.0.1:8333"


def test_round_trip_through_the_environment() -> None:
    settings = ObjectStoreSettings(
        endpoint_url="http://seaweedfs:8333",
        public_endpoint_url="https://media.example.com",
        region="eu-west-1",
        bucket="media-prod",
        access_key_id="AKID",
        secret_access_key="the-secret",
        timeout_seconds=12.5,
    )
    assert objectstore_settings_from_env(settings.to_env()) == settings


@pytest.mark.parametrize("name", sorted(MINIMAL))
def test_missing_required_variable_is_named(name: str) -> None:
    env = {k: v for k, v in MINIMAL.items() if k != name}
    with pytest.raises(ObjectStoreConfigError, match=name):
        objectstore_settings_from_env(env)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("HERALD_OBJECTSTORE_ENDPOINT_URL", "ftp://host"),
        ("HERALD_OBJECTSTORE_PUBLIC_ENDPOINT_URL", "https://user:pw@host"),
        ("HERALD_OBJECTSTORE_BUCKET", "Not_A_Bucket"),
        ("HERALD_OBJECTSTORE_TIMEOUT_SECONDS", "soon"),
    ],
)
def test_malformed_variable_is_named(name: str, value: str) -> None:
    with pytest.raises(ObjectStoreConfigError, match=name) as caught:
        objectstore_settings_from_env({**MINIMAL, name: value})
    assert "a-real-secret" not in str(caught.value)
