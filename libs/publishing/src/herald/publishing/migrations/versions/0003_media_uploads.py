"""Record each media upload step per (distribution, media item), so a retry reuses a platform media id that is still
valid and uploads again only what expired (``herald.publishing.uploads``).

Revision ID: 0003
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "media_uploads",
        sa.Column("distribution_id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("media_id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("platform_media_id", sa.String(500), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True)),
        sa.Column("detail", postgresql.JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("media_uploads")
