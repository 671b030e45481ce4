"""The publisher's Prometheus metrics (bounded labels: platform, outcome, tier, result)."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from herald.contracts.operations import ParkCategory
from herald.contracts.platform import Platform
from herald.contracts.publishing import FailureReason
from herald.kit.consumers import parked_messages_counter

OUTCOMES = ("published", "retry", "failed", "unconfirmed")
HOLD_SCOPES = ("account", "app")
LEDGER_OPERATIONS = ("claim", "mark")
MEDIA_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64)
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14400)


@dataclass(frozen=True)
class PublisherMetrics:
    attempts: Counter
    call_duration: Histogram
    lateness: Histogram
    retries: Counter
    parked: Counter
    reconciliations: Counter
    failures: Counter
    configuration_errors: Counter
    held_until: Gauge
    media_upload_bytes: Counter
    media_upload_seconds: Histogram
    media_processing_failures: Counter
    ledger_batch_size: Histogram

    @classmethod
    def create(cls, registry: CollectorRegistry, platform: Platform, work_queue: str) -> PublisherMetrics:
        """Create the metrics and declare every label combination at zero (so ``rate()`` sees the first event)."""
        metrics = cls._build(registry)
        p = platform.value
        for outcome in OUTCOMES:
            metrics.attempts.labels(p, outcome)
        for operation in ("create", "read_back"):
            metrics.call_duration.labels(p, operation)
        metrics.lateness.labels(p)
        for result in ("found", "absent", "resend", "later", "undetermined"):
            metrics.reconciliations.labels(p, result)
        for reason in FailureReason:
            metrics.failures.labels(p, reason.value)
        for category in ParkCategory:
            metrics.parked.labels(work_queue, category.value)
        for operation in ("create", "read_back"):
            metrics.configuration_errors.labels(p, operation)
        for scope in HOLD_SCOPES:
            metrics.held_until.labels(p, scope)
        metrics.media_upload_bytes.labels(p)
        metrics.media_upload_seconds.labels(p)
        metrics.media_processing_failures.labels(p)
        for operation in LEDGER_OPERATIONS:
            metrics.ledger_batch_size.labels(operation)
        return metrics

    @classmethod
    def _build(cls, registry: CollectorRegistry) -> PublisherMetrics:
        return cls(
            attempts=Counter(
                "herald_publish_attempts_total",
                "Publish attempts by platform and outcome.",
                ["platform", "outcome"],
                registry=registry,
            ),
            call_duration=Histogram(
                "herald_platform_call_duration_seconds",
                "Duration of platform API calls.",
                ["platform", "operation"],
                registry=registry,
            ),
            lateness=Histogram(
                "herald_publish_lateness_seconds",
                "Published time minus scheduled time.",
                ["platform"],
                buckets=LATENCY_BUCKETS,
                registry=registry,
            ),
            retries=Counter(
                "herald_publish_retries_total",
                "Retries scheduled, by delay tier (milliseconds).",
                ["platform", "tier_ms"],
                registry=registry,
            ),
            parked=parked_messages_counter(registry),  # the intake counts every park, once
            reconciliations=Counter(
                "herald_reconciliations_total",
                "Read-backs after an unknown outcome, by result (found, absent, resend, later, undetermined).",
                ["platform", "result"],
                registry=registry,
            ),
            failures=Counter(
                "herald_publish_failures_total",
                "Distributions that failed for good, by reason (permanent, reconnect_required, duplicate, ...).",
                ["platform", "reason"],
                registry=registry,
            ),
            configuration_errors=Counter(
                "herald_configuration_errors_total",
                "Platform answers blaming Herald's own configuration (client secret, app enrolment, credits); the "
                "post is held until an operator fixes it.",
                ["platform", "operation"],
                registry=registry,
            ),
            held_until=Gauge(
                "herald_publish_held_until_timestamp_seconds",
                "When the latest usage-cap hold (a reset beyond the longest retry tier) ends, per scope (account or "
                "the whole app); 0 if none was seen by this process.",
                ["platform", "scope"],
                registry=registry,
            ),
            # Not herald_media_upload_bytes_total: that name is the media service's (bytes teams upload, by kind).
            media_upload_bytes=Counter(
                "herald_platform_media_bytes_total",
                "Media bytes uploaded to the platform (streamed, or offered as a presigned URL).",
                ["platform"],
                registry=registry,
            ),
            media_upload_seconds=Histogram(
                "herald_media_upload_seconds",
                "Time to stream one media item to the platform.",
                ["platform"],
                buckets=MEDIA_BUCKETS,
                registry=registry,
            ),
            media_processing_failures=Counter(
                "herald_media_processing_failures_total",
                "Media items the platform could not process (as recorded by the adapter).",
                ["platform"],
                registry=registry,
            ),
            ledger_batch_size=Histogram(
                "herald_ledger_batch_size",
                "Claims (or marks) the publish ledger wrote in one statement: concurrent deliveries share one.",
                ["operation"],
                buckets=BATCH_BUCKETS,
                registry=registry,
            ),
        )
