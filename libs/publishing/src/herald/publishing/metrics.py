"""The publisher's Prometheus metrics (bounded labels: platform, outcome, tier, result)."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14400)


@dataclass(frozen=True)
class PublisherMetrics:
    attempts: Counter
    call_duration: Histogram
    lateness: Histogram
    retries: Counter
    parked: Counter
    reconciliations: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry) -> PublisherMetrics:
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
            parked=Counter(
                "herald_parked_messages_total",
                "Messages moved to a parking queue.",
                ["queue", "category"],
                registry=registry,
            ),
            reconciliations=Counter(
                "herald_reconciliations_total",
                "Read-backs after an unknown outcome, by result (found, absent, undetermined).",
                ["platform", "result"],
                registry=registry,
            ),
        )
