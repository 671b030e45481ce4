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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from prometheus_client import Histogram

from herald.kit.clock import Clock, utc_now
from herald.kit.db import SchemaPool
from herald.platforms.base import PublishedPost, UploadRecord
from herald.publishing.coalesce import Coalescer


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
    alive_at: dt.datetime | None = None
    """While ``sending``: the last sign of life of the delivery at work on it (its claim, or a
    :meth:`Ledger.keep_alive` since)."""
    held: tuple[dt.datetime, uuid.UUID] | None = field(default=None, compare=False)
    """On a fresh claim only: the latest active hold among the keys the claim asked about, and its key (not a
    column: what the claim saw of ``account_holds``, so that sending needs no second query)."""


# Every transition is one statement on a bare asyncpg connection of the ledger's pool, outside any explicit
# transaction (a single statement is atomic), so a transition costs one round trip and asyncpg's prepared-statement
# cache. ``$n`` parameters: asyncpg's own syntax.
#
# Claims and marks are the hot path (two per post), so concurrent ones are coalesced (herald.publishing.coalesce):
# one set-based statement per batch, fed by parallel arrays (one element per distribution, ``unnest``), doing per
# row what one claim or one mark does, and one commit for the batch. Rows are locked in ``distribution_id`` order,
# as every batch does, so that two publishers' batches cannot deadlock each other.

_CLAIM = """
WITH claims AS (
    SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::int[], $5::timestamptz[], $6::text[])
        AS c(distribution_id, team_id, account_id, attempt, started_at, replay)
),
prev AS MATERIALIZED (
    SELECT * FROM deliveries WHERE distribution_id = ANY($1::uuid[]) ORDER BY distribution_id FOR UPDATE
),
claimed AS (
    INSERT INTO deliveries (distribution_id, team_id, account_id, status, attempt, started_at, updated_at)
    SELECT c.distribution_id, c.team_id, c.account_id, 'sending', c.attempt, c.started_at, c.started_at
    FROM claims AS c, (SELECT count(*) FROM prev) AS locked ORDER BY c.distribution_id
    ON CONFLICT (distribution_id) DO UPDATE SET status = 'sending', attempt = EXCLUDED.attempt,
        started_at = EXCLUDED.started_at, updated_at = EXCLUDED.updated_at,
        generation = CASE WHEN deliveries.status = 'failed'
            THEN (SELECT replay FROM claims WHERE claims.distribution_id = EXCLUDED.distribution_id)
            ELSE deliveries.generation END
    WHERE deliveries.status = 'retrying' OR (deliveries.status = 'failed' AND
        (SELECT replay FROM claims WHERE claims.distribution_id = EXCLUDED.distribution_id)
            NOT IN ('', deliveries.generation))
    RETURNING *
)
SELECT false AS is_claim, prev.*, NULL::timestamptz AS held_until, NULL::uuid AS hold_key FROM prev
UNION ALL
SELECT true, claimed.*, held.until, held.hold_key FROM claimed LEFT JOIN LATERAL (
    SELECT until, account_id AS hold_key FROM account_holds
    WHERE account_id IN (
        SELECT h.hold_key FROM unnest($7::uuid[], $8::uuid[]) AS h(distribution_id, hold_key)
        WHERE h.distribution_id = claimed.distribution_id
    ) AND until > now() ORDER BY until DESC LIMIT 1
) AS held ON true
"""
"""Look, lock, claim and read the holds, for a batch of distributions in one statement. ``prev`` locks the rows
first (``FOR UPDATE`` returns their latest committed versions, so *before* is exact even when another consumer just
changed one); the upsert then claims each unless it is final or in flight (the ``WHERE`` of the table in the
docstring above: ``retrying``, or ``failed`` with a new replay marker); each claim returns the latest active hold
among the keys asked for with it (``$7``/``$8``: pairs of distribution and hold key)."""

_KEEP_ALIVE = (
    "UPDATE deliveries SET updated_at = $3 WHERE distribution_id = $1 AND status = 'sending' AND started_at = $2"
    " RETURNING distribution_id"
)
"""While ``sending``, ``updated_at`` is the last sign of life of the delivery at work (``alive_at``)."""

_GET = "SELECT * FROM deliveries WHERE distribution_id = $1"
_GET_ALL = "SELECT * FROM deliveries WHERE distribution_id = ANY($1::uuid[])"

_MARK = """
WITH marks AS (
    SELECT * FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::timestamptz[], $5::text[], $6::text[],
        $7::text[], $8::text[], $9::text[], $10::int[], $11::text[], $12::text[])
        AS m(distribution_id, status, updated_at, finished_at, post_id, post_url, error_class, failure_reason,
            failure_message, http_status, response_excerpt, existing_post_id)
),
locked AS MATERIALIZED (
    SELECT distribution_id FROM deliveries WHERE distribution_id = ANY($1::uuid[]) ORDER BY distribution_id FOR UPDATE
)
UPDATE deliveries SET status = m.status, updated_at = m.updated_at, finished_at = m.finished_at,
    post_id = m.post_id, post_url = m.post_url, error_class = m.error_class, failure_reason = m.failure_reason,
    failure_message = m.failure_message, http_status = m.http_status, response_excerpt = m.response_excerpt,
    existing_post_id = m.existing_post_id
FROM marks AS m JOIN locked USING (distribution_id)
WHERE deliveries.distribution_id = m.distribution_id RETURNING deliveries.*
"""
"""Record where each distribution of a batch is now, with its outcome's details (all cleared when it goes back to
``retrying``)."""

BATCH_CAP = 64
"""Most claims (or marks) in one statement: twice the default prefetch (32), so that with the defaults every delivery
that comes while a statement is in flight fits in the next one."""


@dataclass(frozen=True)
class _Claim:
    distribution_id: uuid.UUID
    team_id: uuid.UUID
    account_id: uuid.UUID
    attempt: int
    started_at: dt.datetime
    replay: str
    holds: Sequence[uuid.UUID]


@dataclass(frozen=True)
class _Mark:
    distribution_id: uuid.UUID
    status: Status
    at: dt.datetime
    post_id: str | None
    post_url: str | None
    failure: Failure | None


class Ledger:
    """The ledger in PostgreSQL (the pipeline's :class:`~herald.publishing.ports.DeliveryLedger`).

    Give it the publisher's :class:`~herald.kit.db.SchemaPool`: it runs single statements, and opens no
    transaction. Concurrent claims, and concurrent marks, share statements (see ``_CLAIM``); ``batch_sizes`` (a
    histogram labelled by operation) is told the size of each.
    """

    def __init__(self, pool: SchemaPool, clock: Clock = utc_now, *, batch_sizes: Histogram | None = None) -> None:
        self._pool = pool
        self._clock = clock
        self._claims = Coalescer(
            self._claim_batch, _by_distribution, cap=BATCH_CAP, on_batch=_observer(batch_sizes, "claim")
        )
        self._marks = Coalescer(
            self._mark_batch, _by_distribution, cap=BATCH_CAP, on_batch=_observer(batch_sizes, "mark")
        )

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
        request = _Claim(distribution_id, team_id, account_id, attempt, self._clock(), replay or "", tuple(holds))
        return await self._claims.submit(request)

    async def _claim_batch(self, claims: Sequence[_Claim]) -> list[tuple[Delivery | None, Delivery]]:
        ordered = sorted(claims, key=_by_distribution)
        ids = [c.distribution_id for c in ordered]
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                _CLAIM,
                ids,
                [c.team_id for c in ordered],
                [c.account_id for c in ordered],
                [c.attempt for c in ordered],
                [c.started_at for c in ordered],
                [c.replay for c in ordered],
                [c.distribution_id for c in ordered for _ in c.holds],
                [key for c in ordered for key in c.holds],
            )
            before = {r["distribution_id"]: _delivery(r) for r in rows if not r["is_claim"]}
            after = {r["distribution_id"]: r for r in rows if r["is_claim"]}
            unseen = [i for i in ids if i not in before and i not in after]
            if unseen:  # another consumer inserted them first: in flight or done
                before |= {r["distribution_id"]: _delivery(r) for r in await conn.fetch(_GET_ALL, unseen)}
        return [_claimed(c, before.get(c.distribution_id), after.get(c.distribution_id)) for c in claims]

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
        return await self._marks.submit(_Mark(distribution_id, status, self._clock(), post_id, post_url, failure))

    async def _mark_batch(self, marks: Sequence[_Mark]) -> list[Delivery]:
        ordered = sorted(marks, key=_by_distribution)
        failures = [m.failure for m in ordered]
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                _MARK,
                [m.distribution_id for m in ordered],
                [m.status.value for m in ordered],
                [m.at for m in ordered],
                [m.at if m.status in TERMINAL else None for m in ordered],
                [m.post_id for m in ordered],
                [m.post_url for m in ordered],
                [f.error_class if f else None for f in failures],
                [f.reason if f else None for f in failures],
                [f.message if f else None for f in failures],
                [f.http_status if f else None for f in failures],
                [f.response_excerpt if f else None for f in failures],
                [f.existing_post_id if f else None for f in failures],
            )
        recorded = {r["distribution_id"]: _delivery(r) for r in rows}
        missing = [m.distribution_id for m in marks if m.distribution_id not in recorded]
        # A programming error, not data: the batch is retried item by item, and only the unclaimed one raises.
        assert not missing, f"a distribution is claimed before any other transition: {missing}"
        return [recorded[m.distribution_id] for m in marks]

    async def mark_ambiguous(self, distribution_id: uuid.UUID) -> None:
        async with self._pool.acquire() as conn:
            await conn.execute("UPDATE deliveries SET ambiguous = true WHERE distribution_id = $1", distribution_id)

    async def keep_alive(self, distribution_id: uuid.UUID, started_at: dt.datetime) -> bool:
        """Renew the sign of life of the delivery that claimed the distribution at ``started_at``; ``False`` once it
        is no longer ``sending`` under that claim (an outcome was recorded, or another delivery claimed it)."""
        async with self._pool.acquire() as conn:
            renewed = await conn.fetchval(_KEEP_ALIVE, distribution_id, started_at, self._clock())
        return renewed is not None

    async def cancel(self, distribution_id: uuid.UUID, team_id: uuid.UUID, account_id: uuid.UUID) -> bool:
        """Record a cancel. It wins only if the platform has not been called (nothing in flight or done)."""
        now = self._clock()
        async with self._pool.acquire() as conn:
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
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(_GET, distribution_id)
        return _delivery(row) if row else None

    async def hold(self, account_id: uuid.UUID, until: dt.datetime, reason: str) -> None:
        async with self._pool.acquire() as conn:
            await conn.execute(
                "INSERT INTO account_holds (account_id, until, reason) VALUES ($1, $2, $3)"
                " ON CONFLICT (account_id) DO UPDATE SET until = GREATEST(account_holds.until, $2), reason = $3",
                account_id,
                until,
                reason[:200],
            )

    async def recall_upload(self, distribution_id: uuid.UUID, media_id: uuid.UUID) -> UploadRecord | None:
        """The last upload step recorded for this media item in this distribution."""
        async with self._pool.acquire() as conn:
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
        async with self._pool.acquire() as conn:
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
        alive_at=row["updated_at"],
    )


def _by_distribution(request: _Claim | _Mark) -> uuid.UUID:
    return request.distribution_id


def _observer(batch_sizes: Histogram | None, operation: str) -> Callable[[int], None]:
    if batch_sizes is None:
        return lambda _size: None
    return batch_sizes.labels(operation).observe


def _claimed(claim: _Claim, before: Delivery | None, after: Any) -> tuple[Delivery | None, Delivery]:
    """``(before, after)`` of one claim, from its rows: ``after`` is the claimed row, if it was claimed."""
    if after is None:
        assert before is not None, "a distribution not claimed was there before"
        return before, before
    held = (after["held_until"], after["hold_key"]) if after["held_until"] is not None else None
    claimed = Delivery(
        claim.distribution_id,
        Status.SENDING,
        claim.attempt,
        claim.started_at,
        generation=after["generation"],
        alive_at=claim.started_at,
        held=held,
    )
    return before, claimed
