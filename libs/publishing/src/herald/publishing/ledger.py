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
import json
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from herald.kit.clock import Clock, utc_now
from herald.platforms.base import PublishedPost, UploadRecord


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
    held: tuple[dt.datetime, uuid.UUID] | None = field(default=None, compare=False)
    """On a fresh claim only: the latest active hold among the keys the claim asked about, and its key (not a
    column: what the claim saw of ``account_holds``, so that sending needs no second query)."""


# Every transition is one statement on the pool's asyncpg connection, outside any explicit transaction (a single
# statement is atomic), so a transition costs one round trip and asyncpg's prepared-statement cache; SQLAlchemy's
# per-execute work and BEGIN/COMMIT round trips are skipped. ``$n`` parameters: asyncpg's own syntax.

_CLAIM = """
WITH prev AS MATERIALIZED (SELECT * FROM deliveries WHERE distribution_id = $1 FOR UPDATE),
claimed AS (
    INSERT INTO deliveries (distribution_id, team_id, account_id, status, attempt, started_at, updated_at)
    SELECT $1, $2, $3, 'sending', $4, $5, $5 FROM (SELECT count(*) FROM prev) AS locked
    ON CONFLICT (distribution_id) DO UPDATE SET status = 'sending', attempt = EXCLUDED.attempt,
        started_at = EXCLUDED.started_at, updated_at = EXCLUDED.updated_at,
        generation = CASE WHEN deliveries.status = 'failed' THEN $6 ELSE deliveries.generation END
    WHERE deliveries.status = 'retrying' OR (deliveries.status = 'failed' AND $6 <> '' AND $6 <> deliveries.generation)
    RETURNING *
),
held AS (
    SELECT until, account_id AS hold_key FROM account_holds
    WHERE account_id = ANY($7::uuid[]) AND until > now() ORDER BY until DESC LIMIT 1
)
SELECT false AS is_claim, prev.*, NULL::timestamptz AS held_until, NULL::uuid AS hold_key FROM prev
UNION ALL
SELECT true, claimed.*, held.until, held.hold_key FROM claimed LEFT JOIN held ON true
"""
"""Look, lock, claim and read the holds in one statement. ``prev`` locks the row first (``FOR UPDATE`` returns its
latest committed version, so *before* is exact even when another consumer just changed it); the upsert then claims
it unless it is final or in flight (the ``WHERE`` of the table in the docstring above: ``retrying``, or ``failed``
with a new replay marker); a claim returns the latest active hold among the keys asked for."""

_GET = "SELECT * FROM deliveries WHERE distribution_id = $1"

_MARK = """
UPDATE deliveries SET status = $2, updated_at = $3, finished_at = $4, post_id = $5, post_url = $6, error_class = $7,
    failure_reason = $8, failure_message = $9,
    http_status = $10, response_excerpt = $11, existing_post_id = $12
WHERE distribution_id = $1 RETURNING *
"""
"""Record where the distribution is now, with its outcome's details (all cleared when it goes back to ``retrying``)."""


class Ledger:
    """The ledger in PostgreSQL (the pipeline's :class:`~herald.publishing.ports.DeliveryLedger`).

    Give it an engine created with ``autocommit=True`` (:func:`herald.kit.db.create_engine`): no BEGIN/COMMIT round
    trips around its single statements. It is correct on any engine: it opens no transaction of its own.
    """

    def __init__(self, engine: AsyncEngine, clock: Clock = utc_now) -> None:
        self._engine = engine
        self._clock = clock

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[Any]:
        """The pool's asyncpg connection itself (checked out and returned by SQLAlchemy's pool)."""
        async with self._engine.connect() as conn:
            raw = await conn.get_raw_connection()
            yield raw.driver_connection

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
        """Atomically look at the distribution and, unless it is terminal or in flight, mark it ``sending``.

        ``replay`` (an operator's replay marker) reopens a *failed* distribution once per marker. Returns
        ``(before, after)``: what was there before (``None`` the first time) and the row now. A claim also reports
        in ``after.held`` the latest active hold among ``holds`` (the account's, the app's).
        """
        now = self._clock()
        async with self._connection() as conn:
            rows = await conn.fetch(
                _CLAIM, distribution_id, team_id, account_id, attempt, now, replay or "", list(holds)
            )
            before = next((_delivery(r) for r in rows if not r["is_claim"]), None)
            after = next((r for r in rows if r["is_claim"]), None)
            if after is None and before is None:  # another consumer inserted it first: it is in flight or done
                found = await conn.fetchrow(_GET, distribution_id)
                before = _delivery(found)
        if after is None:
            assert before is not None
            return before, before
        held = (after["held_until"], after["hold_key"]) if after["held_until"] is not None else None
        claimed = Delivery(distribution_id, Status.SENDING, attempt, now, generation=after["generation"], held=held)
        return before, claimed

    async def mark_retrying(self, distribution_id: uuid.UUID) -> None:
        """Nothing is in flight and nothing was published: the next delivery may send."""
        await self._record(distribution_id, Status.RETRYING)

    async def mark_published(self, distribution_id: uuid.UUID, post: PublishedPost) -> Delivery:
        return await self._record(distribution_id, Status.PUBLISHED, post_id=post.post_id, post_url=post.url)

    async def mark_failed(self, distribution_id: uuid.UUID, failure: Failure) -> Delivery:
        return await self._record(distribution_id, Status.FAILED, failure=failure)

    async def mark_unconfirmed(self, distribution_id: uuid.UUID, failure: Failure) -> Delivery:
        return await self._record(distribution_id, Status.UNCONFIRMED, failure=failure)

    async def _record(
        self,
        distribution_id: uuid.UUID,
        status: Status,
        *,
        post_id: str | None = None,
        post_url: str | None = None,
        failure: Failure | None = None,
    ) -> Delivery:
        """Record where the distribution is now (a terminal status with its outcome's details); the row as it is."""
        now = self._clock()
        async with self._connection() as conn:
            row = await conn.fetchrow(
                _MARK,
                distribution_id,
                status.value,
                now,
                now if status in TERMINAL else None,
                post_id,
                post_url,
                failure.error_class if failure else None,
                failure.reason if failure else None,
                failure.message if failure else None,
                failure.http_status if failure else None,
                failure.response_excerpt if failure else None,
                failure.existing_post_id if failure else None,
            )
        assert row is not None, "a distribution is claimed before any other transition"
        return _delivery(row)

    async def mark_ambiguous(self, distribution_id: uuid.UUID) -> None:
        async with self._connection() as conn:
            await conn.execute("UPDATE deliveries SET ambiguous = true WHERE distribution_id = $1", distribution_id)

    async def cancel(self, distribution_id: uuid.UUID, team_id: uuid.UUID, account_id: uuid.UUID) -> bool:
        """Record a cancel. It wins only if the platform has not been called (nothing in flight or done)."""
        now = self._clock()
        async with self._connection() as conn:
            won = await conn.fetchval(
                "INSERT INTO deliveries (distribution_id, team_id, account_id, status, attempt, updated_at,"
                " finished_at) VALUES ($1, $2, $3, 'cancelled', 0, $4, $4)"
                " ON CONFLICT (distribution_id) DO UPDATE SET status = 'cancelled', updated_at = $4,"
                " finished_at = $4 WHERE deliveries.status = 'retrying'"
                " RETURNING distribution_id",
                distribution_id,
                team_id,
                account_id,
                now,
            )
        return won is not None

    async def get(self, distribution_id: uuid.UUID) -> Delivery | None:
        async with self._connection() as conn:
            row = await conn.fetchrow(_GET, distribution_id)
        return _delivery(row) if row else None

    async def hold_until(self, account_id: uuid.UUID) -> dt.datetime | None:
        async with self._connection() as conn:
            until: dt.datetime | None = await conn.fetchval(
                "SELECT until FROM account_holds WHERE account_id = $1 AND until > now()", account_id
            )
        return until

    async def hold(self, account_id: uuid.UUID, until: dt.datetime, reason: str) -> None:
        async with self._connection() as conn:
            await conn.execute(
                "INSERT INTO account_holds (account_id, until, reason) VALUES ($1, $2, $3)"
                " ON CONFLICT (account_id) DO UPDATE SET until = GREATEST(account_holds.until, $2), reason = $3",
                account_id,
                until,
                reason[:200],
            )

    async def recall_upload(self, distribution_id: uuid.UUID, media_id: uuid.UUID) -> UploadRecord | None:
        """The last upload step recorded for this media item in this distribution."""
        async with self._connection() as conn:
            row = await conn.fetchrow(_RECALL_UPLOAD, distribution_id, media_id)
        if row is None:
            return None
        detail = json.loads(row["detail"]) if isinstance(row["detail"], str) else dict(row["detail"])
        return UploadRecord(
            platform_media_id=row["platform_media_id"],
            state=row["state"],
            expires_at=row["expires_at"],
            detail={str(k): str(v) for k, v in detail.items()},
        )

    async def remember_upload(self, distribution_id: uuid.UUID, media_id: uuid.UUID, record: UploadRecord) -> None:
        """Record an upload step (replacing the previous one): one statement, durable before the next step."""
        async with self._connection() as conn:
            await conn.execute(
                _REMEMBER_UPLOAD,
                distribution_id,
                media_id,
                record.state,
                record.platform_media_id,
                record.expires_at,
                json.dumps(record.detail),
                self._clock(),
            )


_RECALL_UPLOAD = """
SELECT state, platform_media_id, expires_at, detail::text AS detail FROM media_uploads
WHERE distribution_id = $1 AND media_id = $2
"""

_REMEMBER_UPLOAD = """
INSERT INTO media_uploads (distribution_id, media_id, state, platform_media_id, expires_at, detail, updated_at)
VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7)
ON CONFLICT (distribution_id, media_id) DO UPDATE SET state = EXCLUDED.state,
    platform_media_id = EXCLUDED.platform_media_id, expires_at = EXCLUDED.expires_at, detail = EXCLUDED.detail,
    updated_at = EXCLUDED.updated_at
"""


def _delivery(row: Any) -> Delivery:
    failure = None
    if row["failure_reason"] is not None:
        failure = Failure(
            reason=row["failure_reason"],
            message=row["failure_message"] or "",
            error_class=row["error_class"],
            http_status=row["http_status"],
            response_excerpt=row["response_excerpt"] or "",
            existing_post_id=row["existing_post_id"],
        )
    return Delivery(
        distribution_id=row["distribution_id"],
        status=Status(row["status"]),
        attempt=row["attempt"],
        started_at=row["started_at"],
        post_id=row["post_id"],
        post_url=row["post_url"],
        failure=failure,
        generation=row["generation"],
        ambiguous=row["ambiguous"],
        finished_at=row["finished_at"],
    )
