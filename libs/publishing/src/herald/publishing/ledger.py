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
``failed`` /   terminal: re-emit nothing new
``unconfirmed``
=============  =====================================================================================
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


class Status(StrEnum):
    SENDING = "sending"
    RETRYING = "retrying"
    PUBLISHED = "published"
    CANCELLED = "cancelled"
    FAILED = "failed"
    UNCONFIRMED = "unconfirmed"


TERMINAL = frozenset({Status.PUBLISHED, Status.CANCELLED, Status.FAILED, Status.UNCONFIRMED})


@dataclass(frozen=True)
class Delivery:
    distribution_id: uuid.UUID
    status: Status
    attempt: int
    started_at: dt.datetime | None
    post_id: str | None
    post_url: str | None
    finished_at: dt.datetime | None


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Ledger:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def claim(
        self, distribution_id: uuid.UUID, team_id: uuid.UUID, account_id: uuid.UUID, attempt: int
    ) -> tuple[Delivery | None, Delivery]:
        """Atomically look at the distribution and, unless it is terminal or in flight, mark it ``sending``.

        Returns ``(before, after)``: what was there before (``None`` the first time) and the row now.
        """
        now = _now()
        async with self._engine.begin() as conn:
            row = (
                await conn.execute(
                    text("SELECT * FROM deliveries WHERE distribution_id = :id FOR UPDATE"), {"id": distribution_id}
                )
            ).first()
            before = _delivery(row) if row else None
            if before is not None and (before.status in TERMINAL or before.status is Status.SENDING):
                return before, before
            await conn.execute(
                text(
                    "INSERT INTO deliveries (distribution_id, team_id, account_id, status, attempt, started_at,"
                    " updated_at) VALUES (:id, :team, :account, 'sending', :attempt, :now, :now)"
                    " ON CONFLICT (distribution_id) DO UPDATE SET status = 'sending', attempt = :attempt,"
                    " started_at = :now, updated_at = :now"
                ),
                {"id": distribution_id, "team": team_id, "account": account_id, "attempt": attempt, "now": now},
            )
        after = Delivery(distribution_id, Status.SENDING, attempt, now, None, None, None)
        return before, after

    async def restart_sending(self, distribution_id: uuid.UUID, attempt: int) -> None:
        """Reconciliation found nothing: the new send starts now."""
        await self._set(distribution_id, Status.SENDING, attempt=attempt, started_at=_now())

    async def mark(
        self,
        distribution_id: uuid.UUID,
        status: Status,
        *,
        post_id: str | None = None,
        post_url: str | None = None,
        error_class: str | None = None,
    ) -> Delivery:
        finished = _now() if status in TERMINAL else None
        await self._set(
            distribution_id, status, post_id=post_id, post_url=post_url, error_class=error_class, finished_at=finished
        )
        found = await self.get(distribution_id)
        assert found is not None
        return found

    async def cancel(self, distribution_id: uuid.UUID, team_id: uuid.UUID, account_id: uuid.UUID) -> bool:
        """Record a cancel. It wins only if the platform has not been called (nothing in flight or done)."""
        now = _now()
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
                {"id": distribution_id, "status": status.value, "now": _now(), **values},
            )


def _delivery(row: object) -> Delivery:
    return Delivery(
        distribution_id=row.distribution_id,  # type: ignore[attr-defined]
        status=Status(row.status),  # type: ignore[attr-defined]
        attempt=row.attempt,  # type: ignore[attr-defined]
        started_at=row.started_at,  # type: ignore[attr-defined]
        post_id=row.post_id,  # type: ignore[attr-defined]
        post_url=row.post_url,  # type: ignore[attr-defined]
        finished_at=row.finished_at,  # type: ignore[attr-defined]
    )
