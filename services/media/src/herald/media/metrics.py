"""Prometheus metrics of the media service (on the runtime's registry; bounded labels only)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from herald.contracts.media import MediaKind

REFUSALS = ("unsupported_type", "malformed", "too_large", "invalid", "checksum_mismatch")
CLEANUPS = ("abandoned_upload", "orphaned_object", "orphaned_multipart")


class MediaMetrics:
    """``herald_media_upload_bytes_total{kind}``, ``herald_media_upload_duration_seconds{mode}``,
    ``herald_media_uploads_refused_total{reason}``, ``herald_media_cleanup_removals_total{category}``,
    ``herald_media_uploads_deduplicated_total``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.upload_bytes = Counter(
            "herald_media_upload_bytes_total", "Bytes of media items stored, by kind.", ["kind"], registry=registry
        )
        self.upload_duration = Histogram(
            "herald_media_upload_duration_seconds",
            "Time to take in a media item: a whole direct upload, or the completion of a resumable one.",
            ["mode"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
            registry=registry,
        )
        self.refused = Counter(
            "herald_media_uploads_refused_total", "Uploads refused, by reason.", ["reason"], registry=registry
        )
        self.deduplicated = Counter(
            "herald_media_uploads_deduplicated_total",
            "Uploads of bytes the team already had (the existing item was returned).",
            registry=registry,
        )
        self.cleanup = Counter(
            "herald_media_cleanup_removals_total",
            "What the scheduled cleanup removed, by category.",
            ["category"],
            registry=registry,
        )
        for kind in MediaKind:
            self.upload_bytes.labels(kind.value)
        for mode in ("direct", "resumable"):
            self.upload_duration.labels(mode)
        for reason in REFUSALS:
            self.refused.labels(reason)
        for category in CLEANUPS:
            self.cleanup.labels(category)
