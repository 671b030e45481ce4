"""Media (issue #16): the media snapshot of each content item, and the surface of accounts and distributions.

``contents.media``        the content's media items (``MediaReference`` JSON with ``alt_text``), in posting order,
                          with a GIN index for the media service's "who holds this item" question.
``accounts.surface``      ``AccountConnected.surface`` (Meta: ``facebook_page`` or ``instagram``); null for accounts
                          connected before it existed, read as the platform's usual surface.
``distributions.surface`` the account's surface when the distribution was scheduled (what ``PublishRequested``
                          says); null for older rows, read the same way.

Revision ID: 0002_media
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002_media"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("contents", sa.Column("media", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")))
    op.create_index(
        "ix_contents_media", "contents", ["media"], postgresql_using="gin", postgresql_ops={"media": "jsonb_path_ops"}
    )
    op.add_column("accounts", sa.Column("surface", sa.String(16)))
    op.add_column("distributions", sa.Column("surface", sa.String(16)))


def downgrade() -> None:
    op.drop_column("distributions", "surface")
    op.drop_column("accounts", "surface")
    op.drop_index("ix_contents_media", table_name="contents")
    op.drop_column("contents", "media")
