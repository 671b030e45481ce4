"""The attempt in hand: one delivery of a ``PublishRequested``, numbered, as the pipeline sees it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace

from herald.contracts.publishing import PublishRequested


@dataclass(frozen=True)
class Attempt:
    """Attempt ``number`` (1-based) at ``request``; ``replay`` is an operator's replay marker, if any."""

    request: PublishRequested
    number: int
    replay: str | None = None

    @property
    def distribution_id(self) -> uuid.UUID:
        return self.request.distribution_id

    @property
    def account_id(self) -> uuid.UUID:
        return self.request.account_id

    @property
    def is_last(self) -> bool:
        """No attempt is left after this one: a failure now exhausts the distribution."""
        return self.number >= self.request.max_attempts

    def numbered(self, number: int) -> Attempt:
        """The same delivery counted as attempt ``number`` (a resumed attempt continues the ledger's count)."""
        return replace(self, number=number)
