"""Keep each terminal outcome's details in the ledger, so the outcome event can be re-emitted after a crash, and a
replay generation, so an operator's replay of a failed distribution is a new run with its own events, and whether an
earlier attempt had an unknown outcome (a later DUPLICATE naming a post is then our own post).

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("deliveries", sa.Column("failure_reason", sa.String(32)))
    op.add_column("deliveries", sa.Column("failure_message", sa.Text))
    op.add_column("deliveries", sa.Column("http_status", sa.Integer))
    op.add_column("deliveries", sa.Column("response_excerpt", sa.Text))
    op.add_column("deliveries", sa.Column("existing_post_id", sa.String(200)))
    op.add_column("deliveries", sa.Column("generation", sa.String(64), nullable=False, server_default=""))
    op.add_column("deliveries", sa.Column("ambiguous", sa.Boolean, nullable=False, server_default=sa.false()))


def downgrade() -> None:
    for column in ("ambiguous", "generation", "existing_post_id", "response_excerpt", "http_status", "failure_message"):
        op.drop_column("deliveries", column)
    op.drop_column("deliveries", "failure_reason")
