"""Content, distributions, attempt history, the accounts projection, consumed events and the outbox.

Revision ID: 0001
"""

import datetime as dt

import sqlalchemy as sa
from alembic import op

from herald.kit.outbox import create_outbox, drop_outbox

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _timestamps() -> list[sa.Column[dt.datetime]]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    ]


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("account_id", sa.Uuid, primary_key=True),
        sa.Column("team_id", sa.Uuid, nullable=False, index=True),
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("account_name", sa.Text, nullable=False, server_default=""),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        *_timestamps(),
    )
    op.create_table(
        "contents",
        sa.Column("content_id", sa.Uuid, primary_key=True),
        sa.Column("team_id", sa.Uuid, nullable=False, index=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("link", sa.Text),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("approved_at", sa.DateTime(timezone=True)),
        sa.Column("approved_by", sa.String(80)),
        sa.Column("archived_at", sa.DateTime(timezone=True)),
        *_timestamps(),
    )
    op.create_table(
        "distributions",
        sa.Column("distribution_id", sa.Uuid, primary_key=True),
        sa.Column("team_id", sa.Uuid, nullable=False),
        sa.Column("content_id", sa.Uuid, sa.ForeignKey("contents.content_id"), nullable=False, index=True),
        sa.Column("account_id", sa.Uuid, nullable=False, index=True),
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("scheduled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("timezone", sa.String(64)),
        sa.Column("local_time", sa.String(32)),
        sa.Column("max_attempts", sa.Integer, nullable=False),
        sa.Column("base_delay_seconds", sa.Integer, nullable=False),
        sa.Column("misfire_policy", sa.String(16), nullable=False),
        sa.Column("misfire_window_seconds", sa.Integer, nullable=False),
        sa.Column("over_length", sa.String(16), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True)),
        sa.Column("request_event_id", sa.String(64)),
        sa.Column("last_attempt", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_outcome_rank", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_outcome_at", sa.DateTime(timezone=True)),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True)),
        sa.Column("external_post_id", sa.Text),
        sa.Column("post_url", sa.Text),
        sa.Column("published_at", sa.DateTime(timezone=True)),
        sa.Column("failure_reason", sa.String(32)),
        sa.Column("failure_message", sa.Text),
        sa.Column("cancel_reason", sa.Text),
        *_timestamps(),
    )
    op.create_index("ix_distributions_team_time", "distributions", ["team_id", "scheduled_at", "distribution_id"])
    op.create_index(
        "ix_distributions_due", "distributions", ["scheduled_at"], postgresql_where=sa.text("status = 'scheduled'")
    )
    op.create_table(
        "attempts",
        sa.Column("event_id", sa.String(255), primary_key=True),
        sa.Column(
            "distribution_id", sa.Uuid, sa.ForeignKey("distributions.distribution_id"), nullable=False
        ),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("applied", sa.Boolean, nullable=False),
        sa.Column("error_class", sa.String(64)),
        sa.Column("message", sa.Text),
        sa.Column("http_status", sa.Integer),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True)),
        sa.Column("external_post_id", sa.Text),
        sa.Column("url", sa.Text),
    )
    op.create_index("ix_attempts_distribution", "attempts", ["distribution_id", "occurred_at"])
    op.create_table(
        "processed_events",
        sa.Column("event_id", sa.String(255), primary_key=True),
        sa.Column("event_type", sa.String(255), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    create_outbox(op)


def downgrade() -> None:
    drop_outbox(op)
    for table in ("processed_events", "attempts", "distributions", "contents", "accounts"):
        op.drop_table(table)
