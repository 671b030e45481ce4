"""Scheduler settings: ``HERALD_*`` environment variables (see :class:`SchedulerSettings`)."""

from __future__ import annotations

import datetime as dt

from pydantic import Field, SecretStr

from herald.kit.outbox import RelaySettings
from herald.kit.settings import ServiceSettings


class SchedulerSettings(ServiceSettings):
    """Everything the scheduler reads from the environment, with production defaults.

    ``HERALD_BOOTSTRAP_SECRET`` protects ``POST /v1/admin/api-keys``; its ``dev-`` default is refused outside
    development (like every placeholder secret).
    """

    service_name: str = "scheduler"
    http_port: int = Field(default=8001, ge=0, le=65535)
    bootstrap_secret: SecretStr = SecretStr("dev-bootstrap-secret")

    db_schema: str = Field(default="scheduler", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    """The PostgreSQL schema the scheduler owns (one per deployment; NOTIFY channels are named after it)."""
    work_queue: str = "scheduler"
    """The quorum queue the scheduler consumes publish outcomes and account events from."""
    consumer_prefetch: int = Field(default=32, ge=1)
    consumer_retry_pause_seconds: float = Field(default=1.0, ge=0)
    """Pause before a delivery that failed unexpectedly (e.g. database down) is requeued."""

    processed_event_retention_hours: float = Field(default=336.0, gt=0)
    """How long consumed event ids are remembered for deduplication (redeliveries come within minutes)."""
    housekeeping_interval_seconds: float = Field(default=3600.0, gt=0)

    misfire_threshold_seconds: int = Field(default=60, ge=0)
    """A distribution claimed later than this after its due time is a misfire, handled by its policy."""
    default_misfire_window_seconds: int = Field(default=86_400, ge=0)
    """How late ``publish_late`` distributions may still be published, unless the request says otherwise."""

    due_batch_size: int = Field(default=500, ge=1)
    """Distributions claimed per transaction by the due loop."""
    due_max_sleep_seconds: float = Field(default=30.0, gt=0)
    """The due loop never sleeps longer than this, even with nothing due (a safety net for lost NOTIFYs)."""
    due_error_pause_seconds: float = Field(default=1.0, gt=0)

    outbox_batch_size: int = Field(default=500, ge=1)
    outbox_poll_interval_seconds: float = Field(default=1.0, gt=0)
    outbox_max_backoff_seconds: float = Field(default=30.0, gt=0)
    outbox_retention_hours: float = Field(default=168.0, ge=0)
    outbox_prune_interval_seconds: float = Field(default=600.0, gt=0)

    max_page_size: int = Field(default=200, ge=1)

    media_url: str = Field(default="http://127.0.0.1:8004", description="The media service (resolves media ids).")
    media_timeout_seconds: float = Field(default=5.0, gt=0)
    service_token: SecretStr | None = Field(
        default=None,
        description="The scheduler's own credential (svc_scheduler_...) for the media service's internal API; without"
        " it, content with media is refused with 503 (text-only content needs no media service).",
    )
    service_credentials: dict[str, str] = Field(
        default_factory=dict,
        description="Calling service name -> SHA-256 of its secret, for the internal API (the media service asks"
        " which distributions hold a media item).",
    )

    def relay_settings(self) -> RelaySettings:
        return RelaySettings(
            batch_size=self.outbox_batch_size,
            poll_interval_seconds=self.outbox_poll_interval_seconds,
            max_backoff_seconds=self.outbox_max_backoff_seconds,
            batch_timeout_seconds=max(self.publish_timeout_seconds * 3, 10.0),
            retention=dt.timedelta(hours=self.outbox_retention_hours),
            prune_interval_seconds=self.outbox_prune_interval_seconds,
        )
