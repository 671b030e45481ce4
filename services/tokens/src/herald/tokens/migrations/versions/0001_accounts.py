"""Connected accounts (encrypted tokens), OAuth connect states and the event outbox.

Revision ID: 0001
"""

import datetime as dt

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

from herald.kit.outbox import create_outbox, drop_outbox

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _ts(name: str, nullable: bool = True) -> sa.Column[dt.datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("team_id", sa.Uuid, nullable=False),
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("platform_account_id", sa.String(255), nullable=False),
        sa.Column("account_name", sa.String(255), nullable=False),
        sa.Column("access_token", sa.Text),
        sa.Column("refresh_token", sa.Text),
        _ts("expires_at"),
        _ts("refresh_expires_at"),
        sa.Column("scopes", ARRAY(sa.Text), nullable=False, server_default="{}"),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("status_reason", sa.Text),
        sa.Column("is_active", sa.Boolean, nullable=False),
        _ts("last_used_at"),
        _ts("last_refreshed_at"),
        sa.Column("refresh_failures", sa.Integer, nullable=False, server_default="0"),
        _ts("refresh_retry_at"),
        _ts("reauth_warned_at"),
        _ts("created_at", nullable=False),
        _ts("modified_at", nullable=False),
        sa.UniqueConstraint("team_id", "platform", "platform_account_id", name="uq_accounts_identity"),
        sa.CheckConstraint("status IN ('active', 'needs_reauth', 'disconnected')", name="ck_accounts_status"),
    )
    op.create_index("ix_accounts_team", "accounts", ["team_id", "created_at"])
    op.create_index("ix_accounts_due", "accounts", ["expires_at"], postgresql_where=sa.text("status = 'active'"))
    op.create_table(
        "oauth_states",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("team_id", sa.Uuid, nullable=False),
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("redirect_uri", sa.Text, nullable=False),
        sa.Column("code_verifier", sa.Text),
        sa.Column("actor", sa.String(80), nullable=False),
        _ts("created_at", nullable=False),
        _ts("expires_at", nullable=False),
        _ts("used_at"),
    )
    op.create_index("ix_oauth_states_expires", "oauth_states", ["expires_at"])
    create_outbox(op)


def downgrade() -> None:
    drop_outbox(op)
    op.drop_table("oauth_states")
    op.drop_table("accounts")
