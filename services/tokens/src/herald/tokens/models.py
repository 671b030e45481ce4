"""The tokens schema (SQLAlchemy Core) and the domain types read from it.

``accounts`` has every column of the original system's ``SocialMediaAccounts`` table (id, team id, platform,
account name, access token, refresh token, expiry, active flag, last used, created and modified times) plus the
platform's account id, granted scopes, refresh-token expiry, a status and the bookkeeping of refreshes. Token
columns hold :mod:`herald.tokens.crypto` ciphertexts, never plaintext; both are NULL once an account is
disconnected (Herald keeps no grant it may no longer use). ``platform`` is the :class:`Platform` value (``x``,
``linkedin``, ``meta``) rather than the original's integer.

``oauth_states`` holds the server side of each connect attempt: the SHA-256 of the state's nonce (so a database
reader cannot complete someone's connect), the team, the redirect URI and the encrypted PKCE verifier.

``outbox`` is the kit's transactional outbox (:mod:`herald.kit.outbox`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.dialects.postgresql import ARRAY

from herald.contracts.media import Surface
from herald.contracts.platform import Platform
from herald.kit.outbox import define_outbox

metadata = MetaData()
outbox = define_outbox(metadata)
"""Events written in the same transaction as the change they describe; published by the kit's relay."""


class AccountStatus(StrEnum):
    """``active``: tokens usable. ``needs_reauth``: a human must reconnect. ``disconnected``: removed by the team."""

    ACTIVE = "active"
    NEEDS_REAUTH = "needs_reauth"
    DISCONNECTED = "disconnected"


def _ts(name: str, *, nullable: bool = True) -> Column[Any]:
    return Column(name, DateTime(timezone=True), nullable=nullable)


accounts = Table(
    "accounts",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("team_id", Uuid, nullable=False),
    Column("platform", String(16), nullable=False),
    Column("platform_account_id", String(255), nullable=False),
    Column("account_name", String(255), nullable=False),
    # Meta: a Facebook Page or the Instagram account linked to one (migration 0002); "default" elsewhere.
    Column("surface", String(16), nullable=False, server_default="default"),
    Column("access_token", Text),
    Column("refresh_token", Text),
    _ts("expires_at"),
    _ts("refresh_expires_at"),
    Column("scopes", ARRAY(Text), nullable=False),
    Column("status", String(16), nullable=False),
    Column("status_reason", Text),
    Column("is_active", Boolean, nullable=False),
    _ts("last_used_at"),
    _ts("last_refreshed_at"),
    Column("refresh_failures", Integer, nullable=False, default=0),
    _ts("refresh_retry_at"),
    _ts("reauth_warned_at"),
    _ts("created_at", nullable=False),
    _ts("modified_at", nullable=False),
    UniqueConstraint("team_id", "platform", "platform_account_id", name="uq_accounts_identity"),
    CheckConstraint("status IN ('active', 'needs_reauth', 'disconnected')", name="ck_accounts_status"),
    CheckConstraint("surface IN ('default', 'facebook_page', 'instagram')", name="ck_accounts_surface"),
    Index("ix_accounts_team", "team_id", "created_at"),
    Index("ix_accounts_due", "expires_at", postgresql_where="status = 'active'"),
)

oauth_states = Table(
    "oauth_states",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("team_id", Uuid, nullable=False),
    Column("platform", String(16), nullable=False),
    Column("redirect_uri", Text, nullable=False),
    Column("code_verifier", Text),
    Column("actor", String(80), nullable=False),
    _ts("created_at", nullable=False),
    _ts("expires_at", nullable=False),
    _ts("used_at"),
)


@dataclass(frozen=True)
class AccountRow:
    """One ``accounts`` row as stored (token fields are ciphertexts)."""

    id: uuid.UUID
    team_id: uuid.UUID
    platform: Platform
    platform_account_id: str
    account_name: str
    access_token: str | None
    refresh_token: str | None
    expires_at: dt.datetime | None
    refresh_expires_at: dt.datetime | None
    scopes: tuple[str, ...]
    status: AccountStatus
    status_reason: str | None
    is_active: bool
    last_used_at: dt.datetime | None
    last_refreshed_at: dt.datetime | None
    refresh_failures: int
    refresh_retry_at: dt.datetime | None
    reauth_warned_at: dt.datetime | None
    created_at: dt.datetime
    modified_at: dt.datetime
    surface: Surface = Surface.DEFAULT

    @classmethod
    def from_mapping(cls, row: Any) -> AccountRow:
        values = dict(row)
        values["platform"] = Platform(values["platform"])
        values["surface"] = Surface(values.get("surface") or Surface.DEFAULT)
        values["status"] = AccountStatus(values["status"])
        values["scopes"] = tuple(values["scopes"] or ())
        return cls(**values)

    def expires_within(self, now: dt.datetime, seconds: float) -> bool:
        """True if the access token has an expiry and it falls before ``now + seconds``."""
        return self.expires_at is not None and self.expires_at <= now + dt.timedelta(seconds=seconds)


@dataclass(frozen=True)
class StateRow:
    """One consumed ``oauth_states`` row."""

    id: str
    team_id: uuid.UUID
    platform: Platform
    redirect_uri: str
    code_verifier: str | None
    actor: str
    expires_at: dt.datetime

    @classmethod
    def from_mapping(cls, row: Any) -> StateRow:
        return cls(
            id=row["id"],
            team_id=row["team_id"],
            platform=Platform(row["platform"]),
            redirect_uri=row["redirect_uri"],
            code_verifier=row["code_verifier"],
            actor=row["actor"],
            expires_at=row["expires_at"],
        )
