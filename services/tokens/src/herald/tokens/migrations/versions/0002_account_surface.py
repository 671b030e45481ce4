"""Accounts know their surface: a Facebook Page or the Instagram account linked to one (issue #16).

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing rows keep "default": Meta accounts connected before this are Pages, published as before.
    op.add_column("accounts", sa.Column("surface", sa.String(16), nullable=False, server_default="default"))
    op.create_check_constraint(
        "ck_accounts_surface", "accounts", "surface IN ('default', 'facebook_page', 'instagram')"
    )


def downgrade() -> None:
    op.drop_constraint("ck_accounts_surface", "accounts", type_="check")
    op.drop_column("accounts", "surface")
