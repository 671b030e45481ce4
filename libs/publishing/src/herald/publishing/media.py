"""The media context the pipeline hands an adapter: the object store's bytes and the ledger's upload memory, both
measured in one place for every platform.

* ``herald_platform_media_bytes_total{platform}``: bytes read from the object store for a platform upload (streamed
  by X and LinkedIn), or handed to the platform as a presigned URL (fetched by Meta);
* ``herald_media_upload_seconds{platform}``: how long one item's streamed upload took, first chunk asked to last
  chunk consumed (the adapter sends each chunk before asking for the next, so this spans the transfer);
* ``herald_media_processing_failures_total{platform}``: items whose upload the adapter recorded as ``failed`` (the
  platform could not process them: X's ``processing_info.state=failed``, a LinkedIn ``PROCESSING_FAILED`` asset, an
  Instagram container in ``ERROR``). Adapters record that state for the count to see it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator

from herald.contracts.media import MediaReference
from herald.contracts.platform import Platform
from herald.platforms.base import MediaContext, MediaSource, UploadRecord
from herald.publishing.metrics import PublisherMetrics
from herald.publishing.uploads import DistributionUploads, UploadLedger

FAILED_STATE = "failed"
"""The upload state an adapter records when the platform could not process an item."""


class MeasuredSource:
    """A :class:`~herald.platforms.base.MediaSource` that counts what it serves."""

    def __init__(self, source: MediaSource, metrics: PublisherMetrics, platform: Platform) -> None:
        self._source = source
        self._bytes = metrics.media_upload_bytes.labels(platform.value)
        self._seconds = metrics.media_upload_seconds.labels(platform.value)

    async def stream(self, media: MediaReference, *, chunk_bytes: int) -> AsyncIterator[bytes]:
        began = time.perf_counter()
        async for chunk in self._source.stream(media, chunk_bytes=chunk_bytes):
            self._bytes.inc(len(chunk))
            yield chunk
        self._seconds.observe(time.perf_counter() - began)

    def presigned_url(self, media: MediaReference, *, expires_in_seconds: int) -> str:
        url = self._source.presigned_url(media, expires_in_seconds=expires_in_seconds)
        self._bytes.inc(media.size_bytes)
        return url


class MeasuredUploads(DistributionUploads):
    """The ledger's upload memory for one distribution, counting processing failures as they are recorded."""

    def __init__(
        self, ledger: UploadLedger, distribution_id: uuid.UUID, metrics: PublisherMetrics, platform: Platform
    ) -> None:
        super().__init__(ledger, distribution_id)
        self._failures = metrics.media_processing_failures.labels(platform.value)

    async def remember(self, media: MediaReference, record: UploadRecord) -> None:
        await super().remember(media, record)
        if record.state == FAILED_STATE:
            self._failures.inc()


def media_context(
    source: MediaSource | None,
    ledger: UploadLedger,
    distribution_id: uuid.UUID,
    metrics: PublisherMetrics,
    platform: Platform,
) -> MediaContext | None:
    """The context for one distribution's publish; ``None`` when this publisher has no object store configured
    (the adapter then refuses a post with media as a configuration error: an operator must set it up)."""
    if source is None:
        return None
    return MediaContext(
        source=MeasuredSource(source, metrics, platform),
        memory=MeasuredUploads(ledger, distribution_id, metrics, platform),
    )
