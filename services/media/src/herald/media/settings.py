"""Settings of the media service: ``HERALD_*`` environment variables (the object store's are ``HERALD_OBJECTSTORE_*``,
read by ``herald.objectstore``'s own factory in :mod:`herald.media.main`).

Limits are per kind of media (detected from the bytes): an upload over its kind's limit answers 413. Resumable
uploads are S3 multipart uploads of ``part_bytes`` parts (S3 needs at least 5 MiB for every part but the last);
smaller PUT chunks wait in the object store until a part is full.
"""

from __future__ import annotations

from pydantic import Field, SecretStr

from herald.contracts.media import MediaKind
from herald.kit.settings import ServiceSettings

MIB = 1024 * 1024
S3_MIN_PART_BYTES = 5 * MIB


class MediaSettings(ServiceSettings):
    """Everything the media service can be told. Defaults suit ``make run``; tests shorten the intervals."""

    service_name: str = "media"
    http_port: int = Field(default=8004, ge=0, le=65535)
    public_base_url: str | None = Field(default=None, description="Where this service is reached (upload URLs).")

    service_credentials: dict[str, str] = Field(
        default_factory=dict, description="Calling service name -> SHA-256 of its secret (internal API)."
    )
    service_token: SecretStr | None = Field(
        default=None, description="This service's own credential (svc_media_...) for the scheduler's internal API."
    )
    scheduler_url: str = Field(default="http://127.0.0.1:8001", description="The scheduler (who holds media).")
    scheduler_timeout_seconds: float = Field(default=5.0, gt=0)

    max_image_bytes: int = Field(default=8 * MIB, ge=1)
    max_gif_bytes: int = Field(default=15 * MIB, ge=1)
    max_video_bytes: int = Field(default=512 * MIB, ge=1)
    max_chunk_bytes: int = Field(default=32 * MIB, ge=1, description="Largest body of one resumable PUT.")
    part_bytes: int = Field(default=8 * MIB, ge=S3_MIN_PART_BYTES, description="S3 multipart part size.")

    cleanup_enabled: bool = True
    cleanup_interval_seconds: float = Field(default=600, gt=0)
    abandoned_upload_seconds: float = Field(default=24 * 3600, gt=0, description="Idle resumable uploads expire.")
    orphan_grace_seconds: float = Field(default=3600, gt=0, description="Objects without metadata are kept this long.")
    stale_deleting_seconds: float = Field(
        default=300, gt=0, description="An item left 'deleting' (a crash mid-delete) is restored after this."
    )
    outbox_poll_interval_seconds: float = Field(default=1.0, gt=0, description="Outbox relay fallback poll.")

    def limit(self, kind: MediaKind) -> int:
        """The largest item of ``kind`` accepted."""
        return {
            MediaKind.IMAGE: self.max_image_bytes,
            MediaKind.GIF: self.max_gif_bytes,
            MediaKind.VIDEO: self.max_video_bytes,
        }[kind]

    @property
    def max_bytes(self) -> int:
        """The largest item of any kind (what a resumable upload may declare before its type is known)."""
        return max(self.max_image_bytes, self.max_gif_bytes, self.max_video_bytes)
