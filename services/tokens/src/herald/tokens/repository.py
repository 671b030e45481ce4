"""SQL for accounts and OAuth states (SQLAlchemy Core on the caller's connection and transaction)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import and_, func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from herald.contracts.platform import Platform
from herald.tokens.models import AccountRow, AccountStatus, StateRow, accounts, oauth_states

USED_MARK_INTERVAL = dt.timedelta(minutes=1)  # last_used_at is advisory: write it at most once a minute


async def get(conn: AsyncConnection, account_id: uuid.UUID, *, lock: bool = False) -> AccountRow | None:
    """One account; ``lock`` takes its row lock (``FOR UPDATE``) until the transaction ends."""
    query = select(accounts).where(accounts.c.id == account_id)
    if lock:
        query = query.with_for_update()
    row = (await conn.execute(query)).mappings().first()
    return AccountRow.from_mapping(row) if row else None


async def get_for_team(conn: AsyncConnection, team_id: uuid.UUID, account_id: uuid.UUID) -> AccountRow | None:
    query = select(accounts).where(accounts.c.id == account_id, accounts.c.team_id == team_id)
    row = (await conn.execute(query)).mappings().first()
    return AccountRow.from_mapping(row) if row else None


async def list_for_team(
    conn: AsyncConnection, team_id: uuid.UUID, platform: Platform | None = None
) -> list[AccountRow]:
    query = select(accounts).where(accounts.c.team_id == team_id).order_by(accounts.c.created_at, accounts.c.id)
    if platform is not None:
        query = query.where(accounts.c.platform == platform.value)
    return [AccountRow.from_mapping(r) for r in (await conn.execute(query)).mappings()]


async def lock_identity(
    conn: AsyncConnection, team_id: uuid.UUID, platform: Platform, platform_account_id: str
) -> None:
    """Serialise connects of one identity (two callbacks racing would otherwise both insert)."""
    key = f"tokens:{team_id}:{platform.value}:{platform_account_id}"
    await conn.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": key})


async def find_identity(
    conn: AsyncConnection, team_id: uuid.UUID, platform: Platform, platform_account_id: str
) -> AccountRow | None:
    query = select(accounts).where(
        accounts.c.team_id == team_id,
        accounts.c.platform == platform.value,
        accounts.c.platform_account_id == platform_account_id,
    )
    row = (await conn.execute(query.with_for_update())).mappings().first()
    return AccountRow.from_mapping(row) if row else None


async def insert(conn: AsyncConnection, values: Mapping[str, Any]) -> AccountRow:
    row = (await conn.execute(accounts.insert().values(**values).returning(accounts))).mappings().one()
    return AccountRow.from_mapping(row)


async def update_account(conn: AsyncConnection, account_id: uuid.UUID, values: Mapping[str, Any]) -> AccountRow:
    statement = update(accounts).where(accounts.c.id == account_id).values(**values).returning(accounts)
    return AccountRow.from_mapping((await conn.execute(statement)).mappings().one())


async def mark_used(conn: AsyncConnection, account_id: uuid.UUID, now: dt.datetime) -> None:
    """Record use, but skip the write when it was recorded less than a minute ago (hot accounts)."""
    await conn.execute(
        update(accounts)
        .where(
            accounts.c.id == account_id,
            or_(accounts.c.last_used_at.is_(None), accounts.c.last_used_at < now - USED_MARK_INTERVAL),
        )
        .values(last_used_at=now)
    )


async def due_for_refresh(conn: AsyncConnection, horizon: dt.datetime, now: dt.datetime, limit: int) -> list[uuid.UUID]:
    """Active accounts with a refresh token whose access token expires before ``horizon`` and are not backing off."""
    query = (
        select(accounts.c.id)
        .where(
            accounts.c.status == AccountStatus.ACTIVE.value,
            accounts.c.refresh_token.is_not(None),
            accounts.c.expires_at <= horizon,
            or_(accounts.c.refresh_retry_at.is_(None), accounts.c.refresh_retry_at <= now),
        )
        .order_by(accounts.c.expires_at)
        .limit(limit)
    )
    return list((await conn.execute(query)).scalars())


async def flag_expired_unrefreshable(conn: AsyncConnection, now: dt.datetime, reason: str) -> list[AccountRow]:
    """Active accounts whose access token has expired and that have no refresh token become ``needs_reauth``.

    The ``status = 'active'`` condition makes the transition (and the event it causes) happen once, whichever
    replica gets there first.
    """
    statement = (
        update(accounts)
        .where(
            accounts.c.status == AccountStatus.ACTIVE.value,
            accounts.c.refresh_token.is_(None),
            accounts.c.expires_at <= now,
        )
        .values(status=AccountStatus.NEEDS_REAUTH.value, status_reason=reason, is_active=False, modified_at=now)
        .returning(accounts)
    )
    return [AccountRow.from_mapping(r) for r in (await conn.execute(statement)).mappings()]


async def claim_reauth_warnings(conn: AsyncConnection, now: dt.datetime, horizon: dt.datetime) -> list[AccountRow]:
    """Active accounts whose grant ends before ``horizon`` and cannot be extended, not yet warned: mark them warned.

    The grant ends with the access token when there is no refresh token (LinkedIn apps without programmatic
    refresh), else with the refresh token's own expiry (LinkedIn's fixed 365 days).
    """
    ends_soon = or_(
        and_(accounts.c.refresh_token.is_(None), accounts.c.expires_at <= horizon),
        and_(accounts.c.refresh_token.is_not(None), accounts.c.refresh_expires_at <= horizon),
    )
    statement = (
        update(accounts)
        .where(accounts.c.status == AccountStatus.ACTIVE.value, accounts.c.reauth_warned_at.is_(None), ends_soon)
        .values(reauth_warned_at=now)
        .returning(accounts)
    )
    return [AccountRow.from_mapping(r) for r in (await conn.execute(statement)).mappings()]


async def count_needing_reauth(conn: AsyncConnection) -> dict[Platform, int]:
    query = (
        select(accounts.c.platform, func.count())
        .where(accounts.c.status == AccountStatus.NEEDS_REAUTH.value)
        .group_by(accounts.c.platform)
    )
    counts = dict.fromkeys(Platform, 0)
    for platform, count in (await conn.execute(query)).all():
        counts[Platform(platform)] = int(count)
    return counts


async def insert_state(conn: AsyncConnection, values: Mapping[str, Any]) -> None:
    await conn.execute(oauth_states.insert().values(**values))


async def consume_state(conn: AsyncConnection, state_id: str, now: dt.datetime) -> StateRow | None:
    """Mark a state used and return it; ``None`` if unknown or already used (single use, race-free).

    The PKCE verifier is erased as the state is consumed: nothing secret outlives the callback.
    """
    query = (
        select(oauth_states).where(oauth_states.c.id == state_id, oauth_states.c.used_at.is_(None)).with_for_update()
    )
    row = (await conn.execute(query)).mappings().first()
    if row is None:
        return None
    await conn.execute(
        update(oauth_states).where(oauth_states.c.id == state_id).values(used_at=now, code_verifier=None)
    )
    return StateRow.from_mapping(row)


async def prune_states(conn: AsyncConnection, before: dt.datetime) -> int:
    result = await conn.execute(oauth_states.delete().where(oauth_states.c.expires_at < before))
    return int(result.rowcount)


async def account_token_batch(
    conn: AsyncConnection, after: uuid.UUID | None, limit: int
) -> list[tuple[uuid.UUID, str | None, str | None]]:
    """The next ``limit`` accounts by id (locked), with their token ciphertexts: for key rotation."""
    query = select(accounts.c.id, accounts.c.access_token, accounts.c.refresh_token).order_by(accounts.c.id)
    if after is not None:
        query = query.where(accounts.c.id > after)
    rows = (await conn.execute(query.limit(limit).with_for_update())).all()
    return [(r.id, r.access_token, r.refresh_token) for r in rows]


async def state_verifiers(conn: AsyncConnection) -> list[tuple[str, str]]:
    """Every stored PKCE verifier ciphertext (locked), for key rotation."""
    query = select(oauth_states.c.id, oauth_states.c.code_verifier).where(oauth_states.c.code_verifier.is_not(None))
    return [(r.id, r.code_verifier) for r in (await conn.execute(query.with_for_update())).all()]


async def set_state_verifier(conn: AsyncConnection, state_id: str, ciphertext: str) -> None:
    await conn.execute(update(oauth_states).where(oauth_states.c.id == state_id).values(code_verifier=ciphertext))
