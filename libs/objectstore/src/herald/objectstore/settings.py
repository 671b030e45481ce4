"""Where the object store is and how to reach it, built by :func:`objectstore_settings_from_env` and passed down.

Environment variables (read only when the factory is called, never at import time):

=========================================  ========================================================================
``HERALD_OBJECTSTORE_ENDPOINT_URL``        S3 endpoint the services call, e.g. ``http://127.0.0.1:8333`` (required)
``HERALD_OBJECTSTORE_PUBLIC_ENDPOINT_URL`` endpoint presigned URLs name, reachable by the platforms (default: the above)
``HERALD_OBJECTSTORE_REGION``              signing region (default ``us-east-1``; SeaweedFS accepts any)
``HERALD_OBJECTSTORE_BUCKET``              bucket for media (default ``herald-media``)
``HERALD_OBJECTSTORE_ACCESS_KEY_ID``       access key id (required)
``HERALD_OBJECTSTORE_SECRET_ACCESS_KEY``   secret access key (required)
``HERALD_OBJECTSTORE_TIMEOUT_SECONDS``     per-request timeout (default 30)
=========================================  ========================================================================
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from herald.objectstore.errors import ObjectStoreConfigError

ENV_PREFIX = "HERALD_OBJECTSTORE_"
DEFAULT_BUCKET = "herald-media"
DEFAULT_REGION = "us-east-1"
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def _check_endpoint(name: str, url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ObjectStoreConfigError(f"{name} must be an http(s) URL with a host, got {url!r}")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ObjectStoreConfigError(f"{name} must not carry credentials, a query or a fragment")


@dataclass(frozen=True, kw_only=True)
class ObjectStoreSettings:
    """An S3-compatible store (SeaweedFS embedded, or any S3 in production) and Herald's media bucket there.

    Requests use path-style addressing (``<endpoint>/<bucket>/<key>``), which SeaweedFS, MinIO and AWS all serve.
    """

    endpoint_url: str
    """Where Herald's services send S3 requests."""
    public_endpoint_url: str | None = None
    """The endpoint presigned URLs name (platforms fetch them from outside); None: ``endpoint_url``."""
    region: str = DEFAULT_REGION
    bucket: str = DEFAULT_BUCKET
    access_key_id: str
    secret_access_key: str = field(repr=False)
    timeout_seconds: float = 30.0

    def __post_init__(self) -> None:
        _check_endpoint("endpoint_url", self.endpoint_url)
        if self.public_endpoint_url is not None:
            _check_endpoint("public_endpoint_url", self.public_endpoint_url)
        if not _BUCKET_NAME.match(self.bucket) or ".." in self.bucket:
            raise ObjectStoreConfigError(
                f"bucket {self.bucket!r} is not a valid S3 bucket name (3-63 of a-z, 0-9, '.', '-')"
            )
        if not self.region.strip():
            raise ObjectStoreConfigError("region must not be empty")
        if not self.access_key_id or not self.secret_access_key:
            raise ObjectStoreConfigError("access_key_id and secret_access_key are required")
        if self.timeout_seconds <= 0:
            raise ObjectStoreConfigError("timeout_seconds must be positive")

    @property
    def presign_endpoint_url(self) -> str:
        """The endpoint presigned URLs start with."""
        return self.public_endpoint_url or self.endpoint_url

    def to_env(self) -> dict[str, str]:
        """These settings as the ``HERALD_OBJECTSTORE_*`` variables, for handing to a child process."""
        env = {
            f"{ENV_PREFIX}ENDPOINT_URL": self.endpoint_url,
            f"{ENV_PREFIX}REGION": self.region,
            f"{ENV_PREFIX}BUCKET": self.bucket,
            f"{ENV_PREFIX}ACCESS_KEY_ID": self.access_key_id,
            f"{ENV_PREFIX}SECRET_ACCESS_KEY": self.secret_access_key,
            f"{ENV_PREFIX}TIMEOUT_SECONDS": str(self.timeout_seconds),
        }
        if self.public_endpoint_url is not None:
            env[f"{ENV_PREFIX}PUBLIC_ENDPOINT_URL"] = self.public_endpoint_url
        return env


def objectstore_settings_from_env(environ: Mapping[str, str] | None = None) -> ObjectStoreSettings:
    """Build the settings from ``HERALD_OBJECTSTORE_*`` (``environ`` defaults to the process environment).

    Raises :class:`ObjectStoreConfigError` naming the variable that is missing or malformed.
    """
    env = os.environ if environ is None else environ

    def required(name: str) -> str:
        value = env.get(ENV_PREFIX + name, "").strip()
        if not value:
            raise ObjectStoreConfigError(f"{ENV_PREFIX}{name} is not set")
        return value

    timeout_raw = env.get(f"{ENV_PREFIX}TIMEOUT_SECONDS", "").strip()
    try:
        timeout = float(timeout_raw) if timeout_raw else 30.0
    except ValueError:
        raise ObjectStoreConfigError(f"{ENV_PREFIX}TIMEOUT_SECONDS must be a number of seconds") from None
    try:
        return ObjectStoreSettings(
            endpoint_url=required("ENDPOINT_URL"),
            public_endpoint_url=env.get(f"{ENV_PREFIX}PUBLIC_ENDPOINT_URL", "").strip() or None,
            region=env.get(f"{ENV_PREFIX}REGION", "").strip() or DEFAULT_REGION,
            bucket=env.get(f"{ENV_PREFIX}BUCKET", "").strip() or DEFAULT_BUCKET,
            access_key_id=required("ACCESS_KEY_ID"),
            secret_access_key=required("SECRET_ACCESS_KEY"),
            timeout_seconds=timeout,
        )
    except ObjectStoreConfigError as exc:
        # Field names become variable names, so an operator knows what to set.
        message = str(exc)
        for name in ("public_endpoint_url", "endpoint_url", "bucket", "region", "timeout_seconds"):
            if message.startswith(name):
                raise ObjectStoreConfigError(ENV_PREFIX + name.upper() + message[len(name) :]) from None
        raise


load_objectstore_settings = objectstore_settings_from_env
"""The same factory under the name the service kit's ``load_settings`` suggests."""
