"""The audit service's settings (environment variables ``HERALD_*``, see :class:`AuditSettings`)."""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator

from herald.kit.settings import ServiceSettings


class AuditSettings(ServiceSettings):
    """Settings of ``services/audit``. Each field is read from ``HERALD_<FIELD>`` (e.g. ``HERALD_BATCH_MAX_SIZE``)."""

    service_name: str = "audit"
    http_port: int = Field(default=8003, ge=0, le=65535)

    queue_name: str = Field(default="audit", min_length=1)
    """The work queue bound to every event (its parking queue is ``<queue_name>.dead``)."""
    prefetch_count: int = Field(default=1000, ge=1)
    """Unacknowledged deliveries held at once: the bound on memory while PostgreSQL is away. At least a batch."""
    delivery_limit: int = Field(default=50, ge=1)
    """Quorum delivery limit. Generous: audit messages are redelivered by restarts, not crashes. A queue argument:
    changing it for an existing queue fails at start-up (PRECONDITION_FAILED) until the queue is re-created."""
    batch_max_size: int = Field(default=500, ge=1, le=5000)
    """Deliveries per batch, written with one INSERT (the rows travel as one array per column)."""
    batch_max_wait_seconds: float = Field(default=0.05, gt=0)
    """How long the first message of a batch waits for company before the batch is written: the latency batching
    adds at most (under a backlog, batches fill before the wait is over)."""
    write_timeout_seconds: float = Field(default=10.0, gt=0)
    """Bound on one batch write (a PostgreSQL that hangs instead of refusing must not hang the writer)."""
    retry_initial_seconds: float = Field(default=0.2, gt=0)
    """First pause after a failed batch write; doubles up to ``retry_max_seconds``."""
    retry_max_seconds: float = Field(default=5.0, gt=0)

    retention_months: int = Field(default=24, ge=1)
    """Monthly partitions whose every row is older than this many months are dropped."""
    partitions_ahead_months: int = Field(default=3, ge=0, le=24)
    """How many months after the current one get their partition created in advance."""
    maintenance_interval_seconds: float = Field(default=3600.0, gt=0)
    """How often partitions are created ahead and expired ones dropped."""

    query_max_limit: int = Field(default=500, ge=1)
    """The largest page size ``GET /v1/audit/events`` accepts."""
    export_page_size: int = Field(default=1000, ge=1)
    """Rows read per query while streaming an export."""

    @model_validator(mode="after")
    def _prefetch_holds_a_batch(self) -> Self:
        if self.prefetch_count < self.batch_max_size:
            raise ValueError("HERALD_PREFETCH_COUNT must be at least HERALD_BATCH_MAX_SIZE, or batches never fill")
        return self
