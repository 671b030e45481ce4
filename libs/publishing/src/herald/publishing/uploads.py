"""The publisher ledger's memory of media upload steps, as the :class:`~herald.platforms.base.UploadMemory` an
adapter is handed for one distribution.

Every step an adapter records is one upsert of ``media_uploads`` keyed by ``(distribution_id, media_id)``, done
before the adapter's next step, so a retry (another delivery, maybe another process) finds what the platform already
has and the adapter decides what is still valid (``expires_at``) and what to redo.
"""

from __future__ import annotations

import uuid
from typing import Protocol

from herald.contracts.media import MediaReference
from herald.platforms.base import UploadRecord


class UploadLedger(Protocol):
    """The two ledger statements an upload memory needs (:class:`herald.publishing.ledger.Ledger` has them)."""

    async def recall_upload(self, distribution_id: uuid.UUID, media_id: uuid.UUID) -> UploadRecord | None: ...

    async def remember_upload(self, distribution_id: uuid.UUID, media_id: uuid.UUID, record: UploadRecord) -> None: ...


class DistributionUploads:
    """The upload steps of one distribution (implements ``UploadMemory`` structurally)."""

    def __init__(self, ledger: UploadLedger, distribution_id: uuid.UUID) -> None:
        self._ledger = ledger
        self._distribution_id = distribution_id

    async def recall(self, media: MediaReference) -> UploadRecord | None:
        return await self._ledger.recall_upload(self._distribution_id, media.media_id)

    async def remember(self, media: MediaReference, record: UploadRecord) -> None:
        await self._ledger.remember_upload(self._distribution_id, media.media_id, record)
