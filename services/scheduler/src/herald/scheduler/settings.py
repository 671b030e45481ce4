"""Scheduler settings: ``HERALD_*`` environment variables (see :class:`SchedulerSettings`)."""

from __future__ import annotations

import datetime as dt
from typing import Self

from pydantic import Field, SecretStr, model_validator

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
    consumer_prefetch: int = Field(default=400, ge=1)
    """Unacknowledged work queue deliveries held at once (at least two batches, so the next fills while one is
    applied)."""
    outcome_batch_max_size: int = Field(default=200, ge=1, le=5000)
    """Work queue deliveries applied per batch (one transaction, one multiple acknowledgement)."""
    outcome_batch_max_wait_ms: float = Field(default=20.0, gt=0)
    """How long the first delivery of a batch waits for company: the latency batching adds at most (under a backlog
    batches fill before the wait is over)."""
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
    due_min_sleep_ms: float = Field(default=10.0, ge=1)
    """The due loop's shortest sleep between passes while more is due soon: distributions due within this of one
    another are claimed by one pass (each at most this much later), so under steady load a pass, its relay cycle and
    the deliveries downstream are shared by several posts. It also keeps the loop from spinning on due rows another
    replica holds locked."""
    due_error_pause_seconds: float = Field(default=1.0, gt=0)

    outbox_batch_size: int = Field(default=500, ge=1)
    outbox_poll_interval_seconds: float = Field(default=1.0, gt=0)
    outbox_linger_ms: float = Field(
        default=5.0,
        ge=0,
        description="How long the outbox relay waits after a writer wakes it before claiming, so one cycle relays the"
        " rows of several commits (e.g. concurrent single creates); the most it adds to an event's latency.",
    )
    outbox_max_backoff_seconds: float = Field(default=30.0, gt=0)
    outbox_retention_hours: float = Field(default=0.0, ge=0)
    """Hours relayed outbox rows are kept for diagnosis; 0: deleted once their publish is confirmed (the audit log
    keeps every event)."""
    outbox_prune_interval_seconds: float = Field(default=600.0, gt=0)

    max_page_size: int = Field(default=200, ge=1)
    scheduling_pool_size: int = Field(default=16, ge=1)
    """Connections of the scheduling API's own pool (the rest of the service uses ``db_pool_size``). A create holds
    one for a single statement when its targets are kept: with 32 clients on two cores, 16 served 15% more creates
    per second than 10 (docs/performance.md)."""
    scheduling_cache_size: int = Field(default=256, ge=0)
    """Contents (and as many accounts) kept from scheduling requests, so the next request on them reads nothing
    before its write, which proves them current (:mod:`herald.scheduler.target_cache`); 0 keeps none."""

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

    @model_validator(mode="after")
    def _prefetch_holds_a_batch(self) -> Self:
        if self.consumer_prefetch < self.outcome_batch_max_size:
            raise ValueError("HERALD_CONSUMER_PREFETCH must be at least HERALD_OUTCOME_BATCH_MAX_SIZE")
        return self

    def relay_settings(self) -> RelaySettings:
        return RelaySettings(
            batch_size=self.outbox_batch_size,
            poll_interval_seconds=self.outbox_poll_interval_seconds,
            linger_seconds=self.outbox_linger_ms / 1000,
            max_backoff_seconds=self.outbox_max_backoff_seconds,
            batch_timeout_seconds=max(self.publish_timeout_seconds * 3, 10.0),
            retention=dt.timedelta(hours=self.outbox_retention_hours),
            prune_interval_seconds=self.outbox_prune_interval_seconds,
        )
