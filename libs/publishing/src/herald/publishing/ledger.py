"""The publish ledger: what this publisher has done for each distribution, in its own schema.

No platform accepts an idempotency key and RabbitMQ delivers at least once, so before calling a platform the
publisher *claims* the distribution here (status ``sending`` with the time it started). What a redelivered message
finds decides what happens next:

=============  =====================================================================================
status         on (re)delivery
=============  =====================================================================================
(none)         first attempt: claim and send
``retrying``   a retry arrived from a tier queue: claim and send
``sending``    a process died mid-call (or another consumer is still calling): reconcile, never re-send blind
``published``  already done: re-emit the success, send nothing
``cancelled``  a cancel arrived before the platform was called: report it, send nothing
``failed`` /   terminal: re-emit the recorded outcome (same event id), send nothing; an operator's replay
``unconfirmed`` (``herald-replayed-at``) reopens a *failed* one as a new generation
=============  =====================================================================================
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from herald.kit.clock import Clock, utc_now
from herald.platforms.base import PublishedPost


class Status(StrEnum):
    SENDING = "sending"
    RETRYING = "retrying"
    PUBLISHED = "published"
    CANCELLED = "cancelled"
    FAILED = "failed"
    UNCONFIRMED = "unconfirmed"


TERMINAL = frozenset({Status.PUBLISHED, Status.CANCELLED, Status.FAILED, Status.UNCONFIRMED})


@dataclass(frozen=True)
class Failure:
    """Why a distribution ended without a post (``reason`` is a FailureReason value, or ``unconfirmed``)."""

    reason: str
    message: str
    error_class: str | None = None
    http_status: int | None = None
    response_excerpt: str = ""
    existing_post_id: str | None = None


@dataclass(frozen=True)
class Delivery:
    distribution_id: uuid.UUID
    status: Status
    attempt: int
    started_at: dt.datetime | None
    post_id: str | None = None
    post_url: str | None = None
    failure: Failure | None = None
    generation: str = ""
    ambiguous: bool = False
    """An earlier attempt's outcome was unknown: a DUPLICATE that names a post now means that post is ours."""
    finished_at: dt.datetime | None = None
    """When it reached its terminal status: the ``occurred_at`` of its outcome event, every time it is emitted."""


class Ledger:
    """The ledger in PostgreSQL (the pipeline's :class:`~herald.publishing.ports.DeliveryLedger`)."""

    def __init__(self, engine: AsyncEngine, clock: Clock = utc_now) -> None:
        self._engine = engine
        self._clock = clock

    async def claim(
        self,
        distribution_id: uuid.UUID,
        team_id: uuid.UUID,
        account_id: uuid.UUID,
        attempt: int,
        *,
        replay: str | None = None,
    ) -> tuple[Delivery | None, Delivery]:
        """Atomically look at the distribution and, unless it is terminal or in flight, mark it ``sending``.

        ``replay`` (an operator's replay marker) reopens a *failed* distribution once per marker. Returns
        ``(before, after)``: what was there before (``None`` the first time) and the row now.
        """
        now = self._clock()
        async with self._engine.begin() as conn:
            row = (
                await conn.execute(
                    text("SELECT * FROM deliveries WHERE distribution_id = :id FOR UPDATE"), {"id": distribution_id}
                )
            ).first()
            before = _delivery(row) if row else None
            generation = before.generation if before else ""
            reopen = before is not None and before.status is Status.FAILED and replay and replay != generation
            if before is not None and not reopen and (before.status in TERMINAL or before.status is Status.SENDING):
                return before, before
            generation = replay if reopen and replay else generation
            await conn.execute(
                text(
                    "INSERT INTO deliveries (distribution_id, team_id, account_id, status, attempt, started_at,"
                    " updated_at) VALUES (:id, :team, :account, 'sending', :attempt, :now, :now)"
                    " ON CONFLICT (distribution_id) DO UPDATE SET status = 'sending', attempt = :attempt,"
                    " started_at = :now, updated_at = :now, generation = :generation"
                ),
                {
                    "id": distribution_id,
                    "team": team_id,
                    "account": account_id,
                    "attempt": attempt,
                    "now": now,
                    "generation": generation,
                },
            )
        return before, Delivery(distribution_id, Status.SENDING, attempt, now, generation=generation)

    async def mark_retrying(self, distribution_id: uuid.UUID) -> None:
        """Nothing is in flight and nothing was published: the next delivery may send."""
        await self._record(distribution_id, Status.RETRYING)

    async def mark_published(self, distribution_id: uuid.UUID, post: PublishedPost) -> Delivery:
        await self._record(distribution_id, Status.PUBLISHED, post_id=post.post_id, post_url=post.url)
        return await self._reread(distribution_id)

    async def mark_failed(self, distribution_id: uuid.UUID, failure: Failure) -> Delivery:
        await self._record(distribution_id, Status.FAILED, failure=failure)
        return await self._reread(distribution_id)

    async def mark_unconfirmed(self, distribution_id: uuid.UUID, failure: Failure) -> Delivery:
        await self._record(distribution_id, Status.UNCONFIRMED, failure=failure)
        return await self._reread(distribution_id)

    async def _reread(self, distribution_id: uuid.UUID) -> Delivery:
        found = await self.get(distribution_id)
        assert found is not None
        return found

    async def _record(
        self,
        distribution_id: uuid.UUID,
        status: Status,
        *,
        post_id: str | None = None,
        post_url: str | None = None,
        failure: Failure | None = None,
    ) -> None:
        """Record where the distribution is now; a terminal status also records its outcome's details."""
        finished = self._clock() if status in TERMINAL else None
        await self._set(
            distribution_id,
            status,
            post_id=post_id,
            post_url=post_url,
            finished_at=finished,
            error_class=failure.error_class if failure else None,
            failure_reason=failure.reason if failure else None,
            failure_message=failure.message if failure else None,
            http_status=failure.http_status if failure else None,
            response_excerpt=failure.response_excerpt if failure else None,
            existing_post_id=failure.existing_post_id if failure else None,
        )

    async def mark_ambiguous(self, distribution_id: uuid.UUID) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                text("UPDATE deliveries SET ambiguous = true WHERE distribution_id = :id"), {"id": distribution_id}
            )

    async def cancel(self, distribution_id: uuid.UUID, team_id: uuid.UUID, account_id: uuid.UUID) -> bool:
        """Record a cancel. It wins only if the platform has not been called (nothing in flight or done)."""
        now = self._clock()
        async with self._engine.begin() as conn:
            result = await conn.execute(
                text(
                    "INSERT INTO deliveries (distribution_id, team_id, account_id, status, attempt, updated_at,"
                    " finished_at) VALUES (:id, :team, :account, 'cancelled', 0, :now, :now)"
                    " ON CONFLICT (distribution_id) DO UPDATE SET status = 'cancelled', updated_at = :now,"
                    " finished_at = :now WHERE deliveries.status = 'retrying'"
                    " RETURNING distribution_id"
                ),
                {"id": distribution_id, "team": team_id, "account": account_id, "now": now},
            )
            return result.first() is not None

    async def get(self, distribution_id: uuid.UUID) -> Delivery | None:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    text("SELECT * FROM deliveries WHERE distribution_id = :id"), {"id": distribution_id}
                )
            ).first()
        return _delivery(row) if row else None

    async def hold_until(self, account_id: uuid.UUID) -> dt.datetime | None:
        async with self._engine.connect() as conn:
            result = await conn.execute(
                text("SELECT until FROM account_holds WHERE account_id = :a AND until > now()"), {"a": account_id}
            )
        until: dt.datetime | None = result.scalar()
        return until

    async def hold(self, account_id: uuid.UUID, until: dt.datetime, reason: str) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO account_holds (account_id, until, reason) VALUES (:a, :u, :r)"
                    " ON CONFLICT (account_id) DO UPDATE SET until = GREATEST(account_holds.until, :u), reason = :r"
                ),
                {"a": account_id, "u": until, "r": reason[:200]},
            )

    async def _set(self, distribution_id: uuid.UUID, status: Status, **values: object) -> None:
        assignments = ", ".join(f"{key} = :{key}" for key in values)
        async with self._engine.begin() as conn:
            await conn.execute(
                text(  # column names come from this module's keyword arguments, never from input
                    f"UPDATE deliveries SET status = :status, updated_at = :now{', ' if values else ''}{assignments}"  # noqa: S608
                    " WHERE distribution_id = :id"
                ),
                {"id": distribution_id, "status": status.value, "now": self._clock(), **values},
            )


def _delivery(row: Any) -> Delivery:
    failure = None
    if row.failure_reason is not None:
        failure = Failure(
            reason=row.failure_reason,
            message=row.failure_message or "",
            error_class=row.error_class,
            http_status=row.http_status,
            response_excerpt=row.response_excerpt or "",
            existing_post_id=row.existing_post_id,
        )
    return Delivery(
        distribution_id=row.distribution_id,
        status=Status(row.status),
        attempt=row.attempt,
        started_at=row.started_at,
        post_id=row.post_id,
        post_url=row.post_url,
        failure=failure,
        generation=row.generation,
        ambiguous=row.ambiguous,
        finished_at=row.finished_at,
    )
