"""The scheduler's SQL (SQLAlchemy Core on the async engine). Every function runs in the caller's transaction.

Scheduling (single and bulk) is the API's hot path: it runs on a bare asyncpg connection (the scheduler's
:class:`herald.kit.db.SchemaPool`), with set-based statements that bind one array per column, so a request costs the
same few round trips whether it schedules one distribution or a thousand.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, bindparam, func, literal, select, text, true, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from herald.contracts.envelope import AmqpEnvelope
from herald.contracts.media import Surface
from herald.contracts.platform import Platform
from herald.kit import outbox
from herald.scheduler.models import (
    Account,
    AccountStatus,
    Attempt,
    Content,
    ContentStatus,
    Distribution,
    DistributionStatus,
    accounts,
    attempts,
    contents,
    distributions,
    outbox_table,
    processed_events,
)

# -- contents -------------------------------------------------------------------------------------------------


async def insert_content(conn: AsyncConnection, values: dict[str, Any]) -> Content:
    row = (await conn.execute(contents.insert().values(**values).returning(*contents.c))).one()
    return Content.from_row(row)


async def content_for_update(conn: AsyncConnection, team_id: uuid.UUID, content_id: uuid.UUID) -> Content | None:
    """The team's content, locked until the end of the transaction (None if unknown or another team's)."""
    query = select(contents).where(contents.c.content_id == content_id, contents.c.team_id == team_id).with_for_update()
    row = (await conn.execute(query)).first()
    return None if row is None else Content.from_row(row)


async def get_content(conn: AsyncConnection, team_id: uuid.UUID, content_id: uuid.UUID) -> Content | None:
    query = select(contents).where(contents.c.content_id == content_id, contents.c.team_id == team_id)
    row = (await conn.execute(query)).first()
    return None if row is None else Content.from_row(row)


async def update_content(conn: AsyncConnection, content_id: uuid.UUID, values: dict[str, Any]) -> Content:
    statement = (
        update(contents)
        .where(contents.c.content_id == content_id)
        .values(**values, updated_at=func.now())
        .returning(*contents.c)
    )
    return Content.from_row((await conn.execute(statement)).one())


# -- distributions --------------------------------------------------------------------------------------------


# -- set-based scheduling, on the bare asyncpg connection -----------------------------------------------------

Driver = Any
"""An ``asyncpg.Connection`` (asyncpg ships no type information)."""


@asynccontextmanager
async def driver_transaction(engine: AsyncEngine) -> AsyncIterator[Driver]:
    """A transaction on the asyncpg connection under one of the engine's pooled connections (checked out, and so
    pinged, as usual). SQLAlchemy never begins a transaction of its own on it here: this one is the only one, and
    it is committed when the block ends or rolled back if it raises."""
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        driver: Driver = raw.driver_connection
        async with driver.transaction():
            yield driver


@dataclass(frozen=True)
class Targets:
    """What a scheduling request refers to: the team's contents, the projected accounts, and each row's version
    (its ``xmin``: it changes whenever the row does)."""

    contents: dict[uuid.UUID, Content]
    accounts: dict[uuid.UUID, Account]
    content_versions: dict[uuid.UUID, int]
    account_versions: dict[uuid.UUID, int]


def _targets(lock: bool) -> str:
    return (
        "WITH found AS (SELECT c AS content, c.xmin AS version, c.content_id FROM contents c"  # noqa: S608 - constants
        " WHERE c.content_id = ANY($1::uuid[]) AND c.team_id = $2 ORDER BY c.content_id"
        f"{' FOR SHARE' if lock else ''}),"
        " projected AS (SELECT a AS account, a.xmin AS version, a.account_id FROM accounts a"
        f" WHERE a.account_id = ANY($3::uuid[]) ORDER BY a.account_id{' FOR SHARE' if lock else ''})"
        " SELECT ARRAY(SELECT content FROM found ORDER BY content_id) AS contents,"
        " ARRAY(SELECT version FROM found ORDER BY content_id) AS versions,"
        " ARRAY(SELECT account FROM projected ORDER BY account_id) AS accounts,"
        " ARRAY(SELECT version FROM projected ORDER BY account_id) AS account_versions"
    )


_TARGETS = _targets(lock=False)
_TARGETS_LOCKED = _targets(lock=True)


async def scheduling_targets(
    db: Driver,
    team_id: uuid.UUID,
    content_ids: Iterable[uuid.UUID],
    account_ids: Iterable[uuid.UUID],
    *,
    lock: bool = False,
) -> Targets:
    """The team's contents among ``content_ids`` and the projected accounts among ``account_ids`` (of any team:
    the caller checks the team), with their versions, in one statement (one round trip): each table's rows come
    back as one array of its row type, which asyncpg decodes into records.

    With ``lock``, the contents and accounts are protected from changes (not from other readers) until the
    transaction commits: many distributions of one content item can be scheduled at once, but not while it is
    edited or archived, or its account disconnected. Each kind is locked in id order, so that concurrent batches
    lock them in the same order. Without it, :func:`insert_distributions_set` checks their versions instead."""
    row = await db.fetchrow(
        _TARGETS_LOCKED if lock else _TARGETS, list(set(content_ids)), team_id, list(set(account_ids))
    )
    contents = [Content.from_record(record) for record in row["contents"]]
    accounts = [Account.from_record(record) for record in row["accounts"]]
    return Targets(
        contents={content.content_id: content for content in contents},
        accounts={account.account_id: account for account in accounts},
        content_versions={c.content_id: v for c, v in zip(contents, row["versions"], strict=True)},
        account_versions={a.account_id: v for a, v in zip(accounts, row["account_versions"], strict=True)},
    )


_NEW_DISTRIBUTION_COLUMNS = (
    ("distribution_id", "uuid"),
    ("team_id", "uuid"),
    ("content_id", "uuid"),
    ("account_id", "uuid"),
    ("platform", "text"),
    ("status", "text"),
    ("scheduled_at", "timestamptz"),
    ("timezone", "text"),
    ("local_time", "text"),
    ("max_attempts", "int"),
    ("base_delay_seconds", "int"),
    ("misfire_policy", "text"),
    ("misfire_window_seconds", "int"),
    ("over_length", "text"),
    ("surface", "text"),
)
_INSERT_DISTRIBUTIONS = (
    f"INSERT INTO distributions ({', '.join(name for name, _ in _NEW_DISTRIBUTION_COLUMNS)})"  # noqa: S608 - constants
    f" SELECT * FROM unnest({', '.join(f'${i}::{kind}[]' for i, (_, kind) in enumerate(_NEW_DISTRIBUTION_COLUMNS, 1))})"
)


async def insert_distributions_set(
    db: Driver,
    rows: Sequence[dict[str, Any]],
    envelopes: Sequence[AmqpEnvelope] = (),
    *,
    unchanged: Targets | None = None,
) -> list[Distribution] | None:
    """Insert new distributions (one dict per row, keyed by the column names above) and ``envelopes`` into the
    outbox, in one statement (a data-modifying ``WITH``: one round trip, however many rows); returns the
    distributions in the order given.

    With ``unchanged`` (the targets the rows were checked against, read by :func:`scheduling_targets` or kept
    since), the statement first locks the rows' contents and accounts (``FOR SHARE``, until it ends) and writes
    nothing if any of them is gone or changed since that read: then it returns None. One statement is atomic on
    its own, so this needs no transaction around the read and the write. The account lock also orders the write
    against a disconnection: the projection's update waits for it (and then cancels the new row too), or it
    waits for the update and refuses.
    """
    columns: list[Any] = [[row[name] for row in rows] for name, _ in _NEW_DISTRIBUTION_COLUMNS]
    parts: list[str] = []
    guard = ""
    if unchanged is not None:
        contents_used = {row["content_id"]: unchanged.content_versions[row["content_id"]] for row in rows}
        accounts_used = {row["account_id"]: unchanged.account_versions[row["account_id"]] for row in rows}
        first = len(columns) + 1
        parts.append(
            f"held AS (SELECT c.content_id FROM contents c"  # noqa: S608 - constants
            f" JOIN unnest(${first}::uuid[], ${first + 1}::xid[]) AS v(id, version)"
            " ON c.content_id = v.id AND c.xmin = v.version FOR SHARE OF c),"
            f" kept AS (SELECT a.account_id FROM accounts a"
            f" JOIN unnest(${first + 3}::uuid[], ${first + 4}::xid[]) AS w(id, version)"
            " ON a.account_id = w.id AND a.xmin = w.version FOR SHARE OF a),"
            f" ok AS (SELECT (SELECT count(*) FROM held) = ${first + 2}"
            f" AND (SELECT count(*) FROM kept) = ${first + 5} AS same)"
        )
        columns += [list(contents_used), list(contents_used.values()), len(contents_used)]
        columns += [list(accounts_used), list(accounts_used.values()), len(accounts_used)]
        guard = " WHERE (SELECT same FROM ok)"
    if envelopes:
        emit, arguments = outbox.insert_set(envelopes, table=outbox_table, first_parameter=len(columns) + 1)
        parts.append(f"emitted AS ({emit}{guard})")
        columns += arguments
    statement = f"{_INSERT_DISTRIBUTIONS}{guard} RETURNING *"
    if parts:
        statement = f"WITH {', '.join(parts)} {statement}"
    inserted = await db.fetch(statement, *columns)
    if envelopes:
        outbox.mark_written(db)
    if unchanged is not None and not inserted:
        return None
    by_id = {record["distribution_id"]: Distribution.from_record(record) for record in inserted}
    return [by_id[row["distribution_id"]] for row in rows]


async def notify_set(db: Driver, channel: str) -> None:
    """:func:`notify` on the bare connection."""
    await db.execute("SELECT pg_notify($1, '')", channel)


async def distribution_for_update(
    conn: AsyncConnection, team_id: uuid.UUID, distribution_id: uuid.UUID
) -> Distribution | None:
    query = (
        select(distributions)
        .where(distributions.c.distribution_id == distribution_id, distributions.c.team_id == team_id)
        .with_for_update()
    )
    row = (await conn.execute(query)).first()
    return None if row is None else Distribution.from_row(row)


async def get_distribution(
    conn: AsyncConnection, team_id: uuid.UUID, distribution_id: uuid.UUID
) -> Distribution | None:
    query = select(distributions).where(
        distributions.c.distribution_id == distribution_id, distributions.c.team_id == team_id
    )
    row = (await conn.execute(query)).first()
    return None if row is None else Distribution.from_row(row)


async def distributions_of_content(
    conn: AsyncConnection, content_id: uuid.UUID, statuses: Iterable[DistributionStatus] | None = None
) -> list[Distribution]:
    """A content item's distributions (optionally only in ``statuses``), locked for update."""
    query = select(distributions).where(distributions.c.content_id == content_id)
    if statuses is not None:
        query = query.where(distributions.c.status.in_([s.value for s in statuses]))
    rows = await conn.execute(query.order_by(distributions.c.scheduled_at).with_for_update())
    return [Distribution.from_row(row) for row in rows]


async def distributions_of_account(
    conn: AsyncConnection, account_id: uuid.UUID, statuses: Iterable[DistributionStatus]
) -> list[Distribution]:
    query = (
        select(distributions)
        .where(distributions.c.account_id == account_id, distributions.c.status.in_([s.value for s in statuses]))
        .order_by(distributions.c.scheduled_at)
        .with_for_update()
    )
    return [Distribution.from_row(row) for row in await conn.execute(query)]


async def update_distribution(
    conn: AsyncConnection, distribution_id: uuid.UUID, values: dict[str, Any]
) -> Distribution:
    statement = (
        update(distributions)
        .where(distributions.c.distribution_id == distribution_id)
        .values(**values, updated_at=func.now())
        .returning(*distributions.c)
    )
    return Distribution.from_row((await conn.execute(statement)).one())


async def set_status(
    conn: AsyncConnection, distribution_ids: Sequence[uuid.UUID], status: DistributionStatus, **values: Any
) -> None:
    if distribution_ids:
        await conn.execute(
            update(distributions)
            .where(distributions.c.distribution_id.in_(distribution_ids))
            .values(status=status.value, updated_at=func.now(), **values)
        )


@dataclass(frozen=True)
class DistributionFilter:
    """What ``GET /v1/distributions`` may filter on; ``None`` means "any"."""

    statuses: tuple[DistributionStatus, ...] = ()
    platform: Platform | None = None
    account_id: uuid.UUID | None = None
    content_id: uuid.UUID | None = None
    scheduled_from: dt.datetime | None = None
    scheduled_before: dt.datetime | None = None


async def list_distributions(
    conn: AsyncConnection,
    team_id: uuid.UUID,
    where: DistributionFilter,
    *,
    after: tuple[dt.datetime, uuid.UUID] | None,
    limit: int,
) -> list[Distribution]:
    """A page in (scheduled_at, distribution_id) order, starting after the keyset ``after``."""
    d = distributions.c
    conditions = [d.team_id == team_id]
    if where.statuses:
        conditions.append(d.status.in_([s.value for s in where.statuses]))
    if where.platform is not None:
        conditions.append(d.platform == where.platform.value)
    if where.account_id is not None:
        conditions.append(d.account_id == where.account_id)
    if where.content_id is not None:
        conditions.append(d.content_id == where.content_id)
    if where.scheduled_from is not None:
        conditions.append(d.scheduled_at >= where.scheduled_from)
    if where.scheduled_before is not None:
        conditions.append(d.scheduled_at < where.scheduled_before)
    if after is not None:
        conditions.append(tuple_(d.scheduled_at, d.distribution_id) > tuple_(*after))
    query = select(distributions).where(and_(*conditions)).order_by(d.scheduled_at, d.distribution_id).limit(limit)
    return [Distribution.from_row(row) for row in await conn.execute(query)]


# -- the due loop ---------------------------------------------------------------------------------------------

# Whether a distribution's content is approved is asked with a correlated scalar subquery, not a join. PostgreSQL
# never turns such a subquery into a join, so every due-loop query walks ix_distributions_due in due order and stops
# at its LIMIT, asking the content's primary key row by row. With a join the planner may start from contents
# instead, when its statistics say no content is approved: content is usually approved shortly before it is due,
# after the last ANALYZE. That plan reads every waiting distribution of every content on each pass (a run at 100 due
# posts/s cost PostgreSQL 7 ms of CPU per post, and a 10,000-post burst's claims ~70 ms each).
#
# The subquery returns the comparison (a boolean), not the status compared outside it: the planner guesses that
# ``(subquery) = 'approved'`` holds for 0.5% of rows, so it expects fewer due rows than the LIMIT, sorts a bitmap
# scan of every due row instead of walking the index (a 10,000-post burst: each claim asked all 10,000 contents,
# 22 ms, and the cost estimate crossed jit_above_cost: another 8 ms compiling per call). A bare boolean subquery is
# guessed at 50%, so the plan walks the index and stops after about LIMIT rows. A missing content reads as NULL.
_content_approved = (
    select(contents.c.status == ContentStatus.APPROVED.value)
    .where(contents.c.content_id == distributions.c.content_id)
    .scalar_subquery()
)
# Waiting: ``due_at`` is set exactly while the status is ``scheduled`` (a generated column, see models).
_approved_waiting = and_(distributions.c.due_at.is_not(None), _content_approved)


@dataclass(frozen=True)
class Claimed:
    distribution: Distribution
    claimed_at: dt.datetime
    """The claiming transaction's start (the database clock)."""


async def claim_due(conn: AsyncConnection, limit: int) -> list[Claimed]:
    """Lock up to ``limit`` due distributions of approved content, skipping rows another replica holds."""
    query = (
        select(distributions, func.now().label("claimed_at"))
        .where(_approved_waiting, distributions.c.due_at <= func.now())
        .order_by(distributions.c.due_at)
        .limit(limit)
        .with_for_update(of=distributions, skip_locked=True)
    )
    return [Claimed(Distribution.from_row(row), row.claimed_at) for row in await conn.execute(query)]


async def approved_contents_for_share(
    conn: AsyncConnection, content_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, Content]:
    """The latest committed version of those contents that are approved, share-locked until commit.

    The claim above only locks distributions, so the content it joined may have changed since its snapshot; this
    re-reads it under a lock. Content being changed right now (locked by an edit, withdrawal or archive) is
    skipped rather than waited for: that change may be waiting for our distribution locks.
    """
    query = (
        select(contents)
        .where(contents.c.content_id.in_(set(content_ids)), contents.c.status == ContentStatus.APPROVED.value)
        .with_for_update(read=True, skip_locked=True)
    )
    return {row.content_id: Content.from_row(row) for row in await conn.execute(query)}


_D_CONTENT_APPROVED = (
    f"(SELECT c.status = '{ContentStatus.APPROVED.value}' FROM contents AS c"  # noqa: S608 - constants
    " WHERE c.content_id = d.content_id)"
)
"""``_content_approved`` for the statements on ``distributions AS d`` written as text."""
_CLAIM_DUE = (
    "SELECT d.*, now() AS claimed_at FROM distributions AS d"  # noqa: S608 - constants
    " WHERE d.due_at <= now()"
    f" AND {_D_CONTENT_APPROVED}"
    " ORDER BY d.due_at LIMIT $1 FOR UPDATE OF d SKIP LOCKED"
)
"""As :func:`claim_due` (content approval asked by a scalar subquery: see ``_content_approved``)."""
_APPROVED_CONTENTS_FOR_SHARE = (
    "SELECT * FROM contents WHERE content_id = ANY($1::uuid[])"  # noqa: S608 - constants
    f" AND status = '{ContentStatus.APPROVED.value}' FOR SHARE SKIP LOCKED"
)
_MARK_REQUESTED = (
    f"UPDATE distributions AS d SET status = '{DistributionStatus.QUEUED.value}', requested_at = now(),"  # noqa: S608 - constants
    " request_event_id = u.event_id, updated_at = now()"
    " FROM unnest($1::uuid[], $2::text[]) AS u(distribution_id, event_id) WHERE d.distribution_id = u.distribution_id"
)
_SET_STATUS = "UPDATE distributions SET status = $2, updated_at = now() WHERE distribution_id = ANY($1::uuid[])"


_SECONDS_TO_NEXT_DUE = (
    "SELECT extract(epoch FROM d.due_at - clock_timestamp()) FROM distributions AS d"  # noqa: S608 - constants
    " WHERE d.due_at IS NOT NULL"
    f" AND {_D_CONTENT_APPROVED}"
    " ORDER BY d.due_at LIMIT 1"
)
"""The next due time of :func:`due_outlook`, alone, as one prepared statement (what each pass of the due loop needs)."""


async def claim_due_set(db: Driver, limit: int) -> list[Claimed]:
    """:func:`claim_due` on the bare asyncpg connection (the due loop's hot path: one prepared statement)."""
    return [Claimed(Distribution.from_record(row), row["claimed_at"]) for row in await db.fetch(_CLAIM_DUE, limit)]


async def approved_contents_for_share_set(db: Driver, content_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Content]:
    """:func:`approved_contents_for_share` on the bare asyncpg connection."""
    rows = await db.fetch(_APPROVED_CONTENTS_FOR_SHARE, list(set(content_ids)))
    return {row["content_id"]: Content.from_record(row) for row in rows}


async def mark_requested_set(db: Driver, requests: Sequence[tuple[uuid.UUID, str]]) -> None:
    """:func:`mark_requested` on the bare asyncpg connection, in one statement."""
    if requests:
        await db.execute(_MARK_REQUESTED, [target for target, _ in requests], [event_id for _, event_id in requests])


async def set_status_set(db: Driver, distribution_ids: Sequence[uuid.UUID], status: DistributionStatus) -> None:
    """Set the status of ``distribution_ids`` (nothing else), in one statement on the bare asyncpg connection."""
    if distribution_ids:
        await db.execute(_SET_STATUS, list(distribution_ids), status.value)


async def seconds_to_next_due_set(db: Driver) -> float | None:
    """Until the earliest waiting distribution of approved content is due (<= 0 if one already is; None: none
    waits), on the bare asyncpg connection: :func:`due_outlook` without the backlog count."""
    seconds = await db.fetchval(_SECONDS_TO_NEXT_DUE)
    return None if seconds is None else float(seconds)


@dataclass(frozen=True)
class DueOutlook:
    backlog: int
    """Distributions of approved content that are due and not yet requested (at most ``BACKLOG_COUNT_CAP``)."""
    seconds_to_next: float | None
    """Until the earliest waiting distribution of approved content is due (<= 0 if one already is)."""


BACKLOG_COUNT_CAP = 10_000
"""The backlog gauge counts at most this many due rows, so a pass of the due loop costs the same whatever the size
of the table (a gauge reading of 10,000 means "at least")."""


async def due_outlook(conn: AsyncConnection) -> DueOutlook:
    """Two index range scans on ``ix_distributions_due``, never a pass over every waiting row: the next due time
    (the first waiting row of approved content in time order) and the due backlog (bounded)."""
    now = func.clock_timestamp()
    next_due = (
        select(func.extract("epoch", distributions.c.due_at - now))
        .where(_approved_waiting)
        .order_by(distributions.c.due_at)
        .limit(1)
    )
    due_rows = (
        select(distributions.c.distribution_id)
        # now() (stable), not clock_timestamp() (volatile): only a stable bound can be an index condition.
        .where(_approved_waiting, distributions.c.due_at <= func.now())
        .limit(BACKLOG_COUNT_CAP)
        .subquery()
    )
    # The backlog count asks up to BACKLOG_COUNT_CAP contents, one primary-key probe each: from ~12,000 due rows its
    # cost estimate passes jit_above_cost, and compiling it took longer than running it (10,000 due: 96 ms with JIT,
    # 15 ms without). Off for this transaction only.
    await conn.execute(text("SET LOCAL jit = off"))
    seconds = (await conn.execute(next_due)).scalar()
    backlog = (await conn.execute(select(func.count()).select_from(due_rows))).scalar_one()
    return DueOutlook(int(backlog), None if seconds is None else float(seconds))


async def database_now(conn: AsyncConnection) -> dt.datetime:
    """The database's clock (the due loop's reference), not this host's."""
    moment: dt.datetime = (await conn.execute(select(func.now()))).scalar_one()
    return moment


async def notify(conn: AsyncConnection, channel: str) -> None:
    """Queue a NOTIFY on ``channel``; PostgreSQL delivers it when the transaction commits."""
    await conn.execute(text("SELECT pg_notify(:channel, '')"), {"channel": channel})


# -- attempts and consumed events -----------------------------------------------------------------------------


async def first_time(conn: AsyncConnection, event_id: str, event_type: str) -> bool:
    """Record a consumed event; False if it was already processed (a redelivery or a duplicate)."""
    statement = (
        insert(processed_events)
        .values(event_id=event_id, event_type=event_type)
        .on_conflict_do_nothing(index_elements=["event_id"])
        .returning(processed_events.c.event_id)
    )
    return (await conn.execute(statement)).first() is not None


async def prune_processed_events(conn: AsyncConnection, older_than: dt.timedelta) -> int:
    """Forget consumed event ids old enough that no redelivery of them can still arrive."""
    result = await conn.execute(
        processed_events.delete().where(processed_events.c.processed_at < func.now() - older_than)
    )
    return int(result.rowcount)


def _first_time_for() -> Select[Any]:
    fresh = (
        insert(processed_events)
        .values(event_id=bindparam("event_id"), event_type=bindparam("event_type"))
        .on_conflict_do_nothing(index_elements=["event_id"])
        .returning(processed_events.c.event_id)
        .cte("fresh")
    )
    found = (
        select(distributions)
        .where(distributions.c.distribution_id == bindparam("distribution_id"))
        .with_for_update()
        .lateral("found")
    )
    one = select(literal(1).label("one")).subquery("one")
    return select(select(func.count()).select_from(fresh).scalar_subquery().label("first_time"), *found.c).select_from(
        one.outerjoin(found, true())
    )


_FIRST_TIME_FOR = _first_time_for()
"""Built once: building this statement per event cost more CPU than running it."""


async def first_time_for(
    conn: AsyncConnection, event_id: str, event_type: str, distribution_id: uuid.UUID
) -> tuple[bool, Distribution | None]:
    """:func:`first_time` and a locked read of the distribution, in one statement: is the event new, and the
    distribution it is about (``None`` if there is none)."""
    parameters = {"event_id": event_id, "event_type": event_type, "distribution_id": distribution_id}
    row = (await conn.execute(_FIRST_TIME_FOR, parameters)).one()
    return bool(row.first_time), None if row.distribution_id is None else Distribution.from_row(row)


async def record_outcome(
    conn: AsyncConnection, attempt: dict[str, Any], distribution_id: uuid.UUID, changes: dict[str, Any] | None
) -> None:
    """The attempt's row (once per event id) and, when the outcome changes the distribution, its update: one
    statement."""
    recorded = insert(attempts).values(**attempt).on_conflict_do_nothing(index_elements=["event_id"])
    if changes is None:
        await conn.execute(recorded)
        return
    statement = (
        update(distributions)
        .where(distributions.c.distribution_id == distribution_id)
        .values(**changes, updated_at=func.now())
        .add_cte(recorded.returning(attempts.c.event_id).cte("recorded"))  # runs even though nothing reads it
    )
    await conn.execute(statement)


async def attempts_of(conn: AsyncConnection, distribution_id: uuid.UUID) -> list[Attempt]:
    query = (
        select(attempts)
        .where(attempts.c.distribution_id == distribution_id)
        .order_by(attempts.c.occurred_at, attempts.c.attempt)
    )
    return [Attempt.from_row(row) for row in await conn.execute(query)]


# -- the accounts projection ----------------------------------------------------------------------------------


async def project_account(conn: AsyncConnection, values: dict[str, Any]) -> bool:
    """Upsert an account's state unless a newer event already set it; True if this event was applied."""
    upsert = insert(accounts).values(**values)
    statement = upsert.on_conflict_do_update(
        index_elements=["account_id"],
        set_={
            "team_id": upsert.excluded.team_id,
            "platform": upsert.excluded.platform,
            "status": upsert.excluded.status,
            "account_name": upsert.excluded.account_name,
            "changed_at": upsert.excluded.changed_at,
            # Only AccountConnected says where the account publishes; the other events leave it as it was.
            "surface": func.coalesce(upsert.excluded.surface, accounts.c.surface),
            "updated_at": func.now(),
        },
        # An older event (redelivered late, or overtaken) never undoes a newer one.
        where=accounts.c.changed_at <= upsert.excluded.changed_at,
    ).returning(accounts.c.account_id)
    return (await conn.execute(statement)).first() is not None


def account_values(
    account_id: uuid.UUID,
    team_id: uuid.UUID,
    platform: Platform,
    status: AccountStatus,
    name: str,
    changed_at: dt.datetime,
    surface: Surface | None = None,
) -> dict[str, Any]:
    return {
        "account_id": account_id,
        "team_id": team_id,
        "platform": platform.value,
        "status": status.value,
        "account_name": name,
        "changed_at": changed_at,
        "surface": None if surface is None else surface.value,
    }


async def mark_requested(conn: AsyncConnection, requests: Sequence[tuple[uuid.UUID, str]]) -> None:
    """Mark distributions queued, each with the id of the ``PublishRequested`` event sent for it."""
    if requests:
        await conn.execute(
            update(distributions)
            .where(distributions.c.distribution_id == bindparam("target"))
            .values(
                status=DistributionStatus.QUEUED.value,
                requested_at=func.now(),
                request_event_id=bindparam("event_id"),
                updated_at=func.now(),
            ),
            [{"target": target, "event_id": event_id} for target, event_id in requests],
        )


# -- publish outcomes, a batch at a time, on the bare asyncpg connection --------------------------------------
# Constant statement texts: asyncpg prepares each once per connection and reuses it (its statement cache).

_LOCK_DISTRIBUTIONS = (
    "SELECT * FROM distributions WHERE distribution_id = ANY($1::uuid[]) ORDER BY distribution_id FOR UPDATE"
)
_FIRST_TIMES = (
    "INSERT INTO processed_events (event_id, event_type)"
    " SELECT e, t FROM unnest($1::text[], $2::text[]) AS u(e, t) ORDER BY e"
    " ON CONFLICT (event_id) DO NOTHING RETURNING event_id"
)


async def distributions_for_update_set(
    db: Driver, distribution_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, Distribution]:
    """The distributions among ``distribution_ids``, locked until commit, in id order (so that two replicas
    locking overlapping batches cannot deadlock)."""
    rows = await db.fetch(_LOCK_DISTRIBUTIONS, sorted(set(distribution_ids)))
    return {row["distribution_id"]: Distribution.from_record(row) for row in rows}


async def first_times_set(db: Driver, consumed: Sequence[tuple[str, str]]) -> set[str]:
    """Record consumed events (``(event_id, event_type)``); returns the ids seen for the first time (the others
    were processed already: redeliveries or duplicates). Inserted in id order, for the same reason as above."""
    if not consumed:
        return set()
    rows = await db.fetch(_FIRST_TIMES, [e for e, _ in consumed], [t for _, t in consumed])
    return {row["event_id"] for row in rows}


ATTEMPT_COLUMNS = (
    ("event_id", "text"),
    ("distribution_id", "uuid"),
    ("attempt", "int"),
    ("outcome", "text"),
    ("occurred_at", "timestamptz"),
    ("applied", "bool"),
    ("error_class", "text"),
    ("message", "text"),
    ("http_status", "int"),
    ("next_attempt_at", "timestamptz"),
    ("external_post_id", "text"),
    ("url", "text"),
)
OUTCOME_COLUMNS = (
    ("status", "text"),
    ("last_attempt", "int"),
    ("last_outcome_rank", "int"),
    ("last_outcome_at", "timestamptz"),
    ("next_attempt_at", "timestamptz"),
    ("external_post_id", "text"),
    ("post_url", "text"),
    ("published_at", "timestamptz"),
    ("failure_reason", "text"),
    ("failure_message", "text"),
)
"""The distribution columns an outcome may set. Each is bound as a value array and a "set it" flag array: an outcome
sets some of them only (a retry leaves the post id alone), and one statement updates every row of the batch."""


def _record_outcomes_statement() -> str:
    n = len(ATTEMPT_COLUMNS)
    attempt_names = ", ".join(name for name, _ in ATTEMPT_COLUMNS)
    attempt_arrays = ", ".join(f"${i}::{kind}[]" for i, (_, kind) in enumerate(ATTEMPT_COLUMNS, 1))
    arrays = [f"${n + 1}::uuid[]"]
    aliases = ["distribution_id"]
    assignments = []
    for i, (name, kind) in enumerate(OUTCOME_COLUMNS):
        value, flag = n + 2 + 2 * i, n + 3 + 2 * i
        arrays += [f"${value}::{kind}[]", f"${flag}::bool[]"]
        aliases += [f"v_{name}", f"s_{name}"]
        assignments.append(f"{name} = CASE WHEN u.s_{name} THEN u.v_{name} ELSE d.{name} END")
    return (
        f"WITH recorded AS (INSERT INTO attempts ({attempt_names}) SELECT * FROM unnest({attempt_arrays})"  # noqa: S608
        " ON CONFLICT (event_id) DO NOTHING)"
        f" UPDATE distributions AS d SET {', '.join(assignments)}, updated_at = now()"
        f" FROM unnest({', '.join(arrays)}) AS u({', '.join(aliases)})"
        " WHERE d.distribution_id = u.distribution_id"
    )


_RECORD_OUTCOMES = _record_outcomes_statement()


async def record_outcomes_set(
    db: Driver, attempt_rows: Sequence[dict[str, Any]], changes: Mapping[uuid.UUID, dict[str, Any]]
) -> None:
    """The attempts' rows (once per event id) and every distribution's changes (only the columns present in its
    dict, see :data:`OUTCOME_COLUMNS`), in one statement."""
    if not attempt_rows:
        return
    parameters: list[list[Any]] = [[row[name] for row in attempt_rows] for name, _ in ATTEMPT_COLUMNS]
    targets = list(changes)
    parameters.append(targets)
    for name, _ in OUTCOME_COLUMNS:
        parameters.append([changes[target].get(name) for target in targets])
        parameters.append([name in changes[target] for target in targets])
    await db.execute(_RECORD_OUTCOMES, *parameters)


# -- media ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Holder:
    """A distribution that still needs a media item (the media service must not delete it)."""

    distribution_id: uuid.UUID
    content_id: uuid.UUID
    status: DistributionStatus
    scheduled_at: dt.datetime


async def media_holders(
    conn: AsyncConnection, team_id: uuid.UUID, media_id: uuid.UUID, statuses: Iterable[DistributionStatus]
) -> list[Holder]:
    """The team's distributions in ``statuses`` whose content uses ``media_id``, in due-time order (the GIN index
    on ``contents.media`` answers the containment test)."""
    uses = contents.c.media.contains([{"media_id": str(media_id)}])
    query = (
        select(
            distributions.c.distribution_id,
            distributions.c.content_id,
            distributions.c.status,
            distributions.c.scheduled_at,
        )
        .join(contents, contents.c.content_id == distributions.c.content_id)
        .where(
            contents.c.team_id == team_id,
            uses,
            distributions.c.status.in_([s.value for s in statuses]),
        )
        .order_by(distributions.c.scheduled_at, distributions.c.distribution_id)
    )
    return [
        Holder(row.distribution_id, row.content_id, DistributionStatus(row.status), row.scheduled_at)
        for row in await conn.execute(query)
    ]
