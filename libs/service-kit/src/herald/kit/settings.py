"""Service settings: read from ``HERALD_*`` environment variables by a factory, then passed down.

Nothing reads the environment at import time. A service subclasses :class:`ServiceSettings`, adds its own fields
and calls :func:`load_settings` from its composition root. Outside development, secrets that still hold a
placeholder value are refused at start-up.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal, Self, TypeVar

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRETS = frozenset({"", "changeme", "change-me", "changethis", "secret", "dev", "development"})
DEV_PREFIX = "dev-"  # values such as "dev-bootstrap-secret" are accepted in development only


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class ServiceSettings(BaseSettings):
    """Settings every Herald service has. Environment variables: ``HERALD_<FIELD>`` (nested: ``__``)."""

    model_config = SettingsConfigDict(env_prefix="HERALD_", env_nested_delimiter="__", extra="ignore")

    service_name: str = "herald"
    environment: Environment = Environment.DEVELOPMENT
    amqp_url: SecretStr = SecretStr("amqp://guest:guest@127.0.0.1:5672/")
    database_url: SecretStr = SecretStr("postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
    db_pool_size: int = Field(default=10, ge=1)
    api_key_cache_seconds: float = Field(default=5.0, ge=0)
    """How long a verified team API key is remembered per process (0: ask the database on every request); a key
    revoked in another process keeps working here for at most this long."""
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8000, ge=0, le=65535)
    http_fd: int | None = Field(default=None, ge=0)
    """A bound, listening socket inherited from the process that started this one (the local starter,
    ``herald.operator.local_starter``): served instead of binding ``http_host``/``http_port``, so the port was held
    from the moment it was chosen and no other process can take it first."""
    log_level: str = "INFO"
    publish_timeout_seconds: float = Field(default=10.0, gt=0)
    graceful_timeout_seconds: float = Field(default=20.0, gt=0)
    event_loop: Literal["uvloop", "asyncio"] = "uvloop"
    """The event loop a served process runs on: uvloop (libuv, less CPU per I/O call), or the standard library's
    (to compare, or to debug with tools that need it)."""
    gc_young_threshold: int = Field(default=20_000, ge=700)
    """Container allocations (less deallocations) between young-generation collections of a served process;
    CPython's default is 700. Under load every delivery or request in flight keeps objects alive that each young
    collection walks again, so collecting less often costs less CPU per post (``docs/performance.md``, "The garbage
    collector"), at the price of longer, rarer pauses (~20 ms instead of ~2 under a burst)."""

    @property
    def is_development(self) -> bool:
        return self.environment is Environment.DEVELOPMENT

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> Self:
        if self.is_development:
            return self
        for name, value in self:
            if isinstance(value, SecretStr) and name not in {"amqp_url", "database_url"}:
                raw = value.get_secret_value()
                if raw.lower() in PLACEHOLDER_SECRETS or raw.startswith(DEV_PREFIX):
                    raise ValueError(
                        f"HERALD_{name.upper()} holds a placeholder value; set a real secret outside development"
                    )
        return self


SettingsT = TypeVar("SettingsT", bound=ServiceSettings)


def load_settings(cls: type[SettingsT], **overrides: Any) -> SettingsT:
    """Build settings from the environment (and explicit overrides, which win). Call from ``main`` only."""
    return cls(**overrides)
