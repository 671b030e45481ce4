"""Prometheus metrics of the tokens service (on the runtime's registry; bounded labels only)."""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from herald.contracts.platform import Platform

OUTCOMES = ("success", "transient_failure", "permanent_failure", "configuration_failure")


class TokenMetrics:
    """``herald_token_refreshes_total{platform,outcome}``, ``herald_accounts_needing_reauth{platform}``,
    ``herald_configuration_errors_total{platform,operation}`` and
    ``herald_token_endpoint_duration_seconds{platform,grant}`` (time spent in calls to a platform's token endpoint).
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.refreshes = Counter(
            "herald_token_refreshes_total",
            "Refreshes attempted at a platform's token endpoint, by outcome.",
            ["platform", "outcome"],
            registry=registry,
        )
        self.needing_reauth = Gauge(
            "herald_accounts_needing_reauth",
            "Accounts a human must reconnect (status needs_reauth).",
            ["platform"],
            registry=registry,
        )
        self.token_endpoint = Histogram(
            "herald_token_endpoint_duration_seconds",
            "Duration of calls to a platform's token endpoint (code exchange or refresh).",
            ["platform", "grant"],
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=registry,
        )
        self.configuration_errors = Counter(
            "herald_configuration_errors_total",
            "Platform answers blaming Herald's own OAuth client (invalid_client, a missing client_secret, an "
            "unregistered redirect URI); no account is flagged, an operator must fix the configuration.",
            ["platform", "operation"],
            registry=registry,
        )
        for platform in Platform:
            for operation in ("refresh", "connect"):
                self.configuration_errors.labels(platform.value, operation)
            for outcome in OUTCOMES:
                self.refreshes.labels(platform.value, outcome)
            self.needing_reauth.labels(platform.value).set(0)

    def refresh(self, platform: Platform, outcome: str) -> None:
        self.refreshes.labels(platform.value, outcome).inc()

    def configuration_error(self, platform: Platform, operation: str) -> None:
        self.configuration_errors.labels(platform.value, operation).inc()

    def set_needing_reauth(self, counts: Mapping[Platform, int]) -> None:
        for platform, count in counts.items():
            self.needing_reauth.labels(platform.value).set(count)
