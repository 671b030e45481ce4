"""The audit service's Prometheus metrics, registered on the runtime's registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LAG_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 21600, 86400)


class AuditMetrics:
    """Counters, gauges and histograms of writing and maintaining the audit log."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.written = Counter(
            "herald_audit_events_written_total",
            "Audit rows inserted, by action.",
            ["action"],
            registry=registry,
        )
        self.duplicates = Counter(
            "herald_audit_events_duplicate_total",
            "Deliveries whose event id was already recorded (redeliveries, re-publishes).",
            registry=registry,
        )
        self.rejected = Counter(
            "herald_audit_events_rejected_total",
            "Events PostgreSQL refused to store (parked instead).",
            registry=registry,
        )
        self.lag = Histogram(
            "herald_audit_lag_seconds",
            "recorded_at - occurred_at of inserted rows.",
            buckets=LAG_BUCKETS,
            registry=registry,
        )
        self.batch_rows = Histogram(
            "herald_audit_batch_rows",
            "Rows per batch write.",
            buckets=(1, 5, 10, 25, 50, 100, 250, 500, 1000, 2000),
            registry=registry,
        )
        self.write_failures = Counter(
            "herald_audit_write_failures_total",
            "Batch writes that failed and will be retried (PostgreSQL unreachable or erroring).",
            registry=registry,
        )
        self.pending = Gauge(
            "herald_audit_pending_records",
            "Records received and not yet committed (each holds an unacknowledged message).",
            registry=registry,
        )
        self.partitions_created = Counter(
            "herald_audit_partitions_created_total",
            "Monthly partitions created ahead of time by the maintenance loop.",
            registry=registry,
        )
        self.partitions_dropped = Counter(
            "herald_audit_partitions_dropped_total",
            "Monthly partitions dropped by retention.",
            registry=registry,
        )
