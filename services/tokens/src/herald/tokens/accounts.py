"""The team's view of its connected accounts: list, show, disconnect. Never returns a token.

Another team's account is reported exactly like a missing one (:class:`~herald.tokens.errors.AccountNotFound`).
Disconnecting erases both tokens (Herald keeps no grant it may not use), marks the account ``disconnected`` and
emits :class:`~herald.contracts.accounts.AccountDisconnected` once; disconnecting again changes nothing.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncEngine

from herald.contracts.platform import Platform
from herald.kit.auth import TeamPrincipal
from herald.kit.clock import Clock, utc_now
from herald.tokens import events, repository
from herald.tokens.errors import AccountNotFound
from herald.tokens.events import Cause, EventWriter
from herald.tokens.models import AccountRow, AccountStatus

DISCONNECT_REASON = "disconnected by user"


class AccountDirectory:
    def __init__(self, engine: AsyncEngine, writer: EventWriter, clock: Clock = utc_now) -> None:
        self._engine = engine
        self._writer = writer
        self._clock = clock

    async def list(self, team: TeamPrincipal, platform: Platform | None = None) -> list[AccountRow]:
        async with self._engine.connect() as conn:
            return await repository.list_for_team(conn, team.team_id, platform)

    async def get(self, team: TeamPrincipal, account_id: uuid.UUID) -> AccountRow:
        async with self._engine.connect() as conn:
            row = await repository.get_for_team(conn, team.team_id, account_id)
        if row is None:
            raise AccountNotFound(account_id)
        return row

    async def disconnect(self, team: TeamPrincipal, account_id: uuid.UUID) -> AccountRow:
        async with self._engine.begin() as conn:
            row = await repository.get(conn, account_id, lock=True)
            if row is None or row.team_id != team.team_id:
                raise AccountNotFound(account_id)
            if row.status is AccountStatus.DISCONNECTED:
                return row
            now = self._clock()
            values = {
                "status": AccountStatus.DISCONNECTED.value,
                "status_reason": DISCONNECT_REASON,
                "is_active": False,
                "access_token": None,
                "refresh_token": None,
                "refresh_retry_at": None,
                "modified_at": now,
            }
            updated = await repository.update_account(conn, account_id, values)
            event = events.disconnected(updated, Cause(actor=team.actor), now, DISCONNECT_REASON)
            await self._writer.write(conn, [event])
        return updated
