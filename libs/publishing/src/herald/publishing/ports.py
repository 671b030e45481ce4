"""What the pipeline needs from the world, as small Protocols: the ledger, a token source, an outcome sink, a clock.

The production adapters are :class:`herald.publishing.ledger.Ledger` (PostgreSQL),
:class:`herald.publishing.tokens.TokenClient` (the token service over HTTP),
:class:`herald.kit.broker.EventPublisher` (RabbitMQ with confirms) and :func:`herald.kit.clock.utc_now`;
``tests/publishing/fakes.py`` has an in-memory fake of each, so every decision can be tested in milliseconds.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Protocol

from herald.contracts.base import Event
from herald.kit.clock import Clock as Clock  # noqa: PLC0414 (re-export: the pipeline's fourth seam)
from herald.platforms.base import PublishedPost, UploadRecord
from herald.publishing.ledger import Delivery, Failure
from herald.publishing.tokens import AccessToken


class DeliveryLedger(Protocol):
    """Where the publisher records what it has done per distribution: one method per transition.

    A transition returns the row as it now is when the caller needs it to build the outcome event.
    """

    async def claim(
        self,
        distribution_id: uuid.UUID,
        team_id: uuid.UUID,
        account_id: uuid.UUID,
        attempt: int,
        *,
        replay: str | None = None,
        holds: Sequence[uuid.UUID] = (),
    ) -> tuple[Delivery | None, Delivery]:
        """Look at the distribution and, unless it is final or in flight, mark it ``sending``: ``(before, after)``.

        A claim that marks it ``sending`` also reports in ``after.held`` the latest active hold among ``holds``
        (hold keys: the account's id, :func:`~herald.publishing.retry.app_hold_id`), with its key.
        """
        ...

    async def get(self, distribution_id: uuid.UUID) -> Delivery | None: ...

    async def mark_ambiguous(self, distribution_id: uuid.UUID) -> None:
        """An outcome is unknown: a DUPLICATE naming a post from now on means that post is ours."""
        ...

    async def keep_alive(self, distribution_id: uuid.UUID, started_at: dt.datetime) -> bool:
        """The delivery that claimed the distribution at ``started_at`` is still at work: renew ``alive_at``.
        ``False`` (and nothing changed) once the distribution is no longer ``sending`` under that claim."""
        ...

    async def mark_retrying(self, distribution_id: uuid.UUID) -> None:
        """Nothing is in flight and nothing was published: the next delivery may send."""
        ...

    async def mark_published(self, distribution_id: uuid.UUID, post: PublishedPost) -> Delivery: ...

    async def mark_failed(self, distribution_id: uuid.UUID, failure: Failure) -> Delivery: ...

    async def mark_unconfirmed(self, distribution_id: uuid.UUID, failure: Failure) -> Delivery: ...

    async def hold(self, account_id: uuid.UUID, until: dt.datetime, reason: str) -> None:
        """Hold the account until ``until`` (a later hold wins)."""
        ...

    async def recall_upload(self, distribution_id: uuid.UUID, media_id: uuid.UUID) -> UploadRecord | None:
        """The last media upload step recorded for ``media_id`` in this distribution (see ``uploads.py``)."""
        ...

    async def remember_upload(self, distribution_id: uuid.UUID, media_id: uuid.UUID, record: UploadRecord) -> None:
        """Record a media upload step, replacing the previous one."""
        ...


class TokenSource(Protocol):
    """Usable access tokens per account. Raises ``TokenUnavailable`` (try later) or ``ReauthRequired`` (never)."""

    async def get(self, account_id: uuid.UUID) -> AccessToken: ...

    async def refresh(self, rejected: AccessToken) -> AccessToken:
        """A fresh token after the platform refused ``rejected``."""
        ...

    async def report_reauth_required(self, rejected: AccessToken, reason: str) -> None:
        """Best effort: the platform refused the grant, a human must reconnect the account."""
        ...


class OutcomeSink(Protocol):
    """Where outcome events go; ``publish`` returns once the event is safely stored (a broker confirm)."""

    async def publish(self, event: Event, *, event_id: str | None = None) -> str: ...
