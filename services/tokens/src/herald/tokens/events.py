"""Account and token events, written to the outbox in the same transaction as the change they report.

The kit's :class:`~herald.kit.outbox.OutboxRelay` publishes them after commit, so an event is published if and
only if its change committed. Events never carry token material (the contracts have no field for it).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from herald.contracts.accounts import (
    AccountConnected,
    AccountDisconnected,
    AccountReauthRequired,
    TokenRefreshed,
    TokenRefreshFailed,
)
from herald.contracts.base import SYSTEM_ACTOR, Event
from herald.contracts.envelope import AmqpEnvelope
from herald.contracts.platform import Platform
from herald.kit import outbox
from herald.kit.logging import correlation_id
from herald.tokens.models import AccountRow
from herald.tokens.models import outbox as outbox_table

Envelope = Callable[[Event], AmqpEnvelope]


@dataclass(frozen=True)
class Cause:
    """Who caused a change and which request it belongs to (the events' ``actor`` and ``correlation_id``)."""

    actor: str = SYSTEM_ACTOR
    correlation_id: str | None = None

    def correlation(self) -> str:
        return self.correlation_id or correlation_id.get() or str(uuid.uuid4())


class EventWriter:
    """Turns events into envelopes and adds them to the outbox on the caller's connection."""

    def __init__(self, envelope: Envelope) -> None:
        self._envelope = envelope

    async def write(self, conn: AsyncConnection, events: Sequence[Event]) -> None:
        await outbox.add_many(conn, [self._envelope(event) for event in events], table=outbox_table)


def _common(account: AccountRow, cause: Cause, now: dt.datetime) -> dict[str, object]:
    return {
        "correlation_id": cause.correlation(),
        "actor": cause.actor,
        "occurred_at": now,
        "team_id": account.team_id,
        "account_id": account.id,
        "platform": account.platform,
    }


def _identity(account: AccountRow) -> dict[str, object]:
    return {"platform_account_id": account.platform_account_id, "account_name": account.account_name}


def connected(account: AccountRow, cause: Cause, now: dt.datetime, *, reconnected: bool) -> AccountConnected:
    return AccountConnected.model_validate(
        {
            **_common(account, cause, now),
            **_identity(account),
            "scopes": account.scopes,
            "expires_at": account.expires_at,
            "reconnected": reconnected,
            # Meta only: a Facebook Page or its Instagram account (the other platforms have one surface).
            "surface": account.surface if account.platform is Platform.META else None,
        }
    )


def disconnected(account: AccountRow, cause: Cause, now: dt.datetime, reason: str) -> AccountDisconnected:
    return AccountDisconnected.model_validate({**_common(account, cause, now), **_identity(account), "reason": reason})


def reauth_required(
    account: AccountRow, cause: Cause, now: dt.datetime, reason: str, expires_at: dt.datetime | None
) -> AccountReauthRequired:
    return AccountReauthRequired.model_validate(
        {**_common(account, cause, now), **_identity(account), "reason": reason, "expires_at": expires_at}
    )


def refreshed(account: AccountRow, cause: Cause, now: dt.datetime, *, rotated: bool) -> TokenRefreshed:
    return TokenRefreshed.model_validate(
        {**_common(account, cause, now), "expires_at": account.expires_at, "rotated": rotated}
    )


def refresh_failed(
    account: AccountRow, cause: Cause, now: dt.datetime, *, transient: bool, reason: str, http_status: int | None
) -> TokenRefreshFailed:
    return TokenRefreshFailed.model_validate(
        {
            **_common(account, cause, now),
            "transient": transient,
            "reason": reason[:2000] or "refresh failed",
            "http_status": http_status if http_status is not None and 100 <= http_status <= 599 else None,
        }
    )
