"""Media items, resumable uploads in progress and the event outbox.

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from herald.kit.outbox import create_outbox, drop_outbox

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "media",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("team_id", sa.Uuid, nullable=False),
        sa.Column("storage_key", sa.String(1024), nullable=False, unique=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("size_bytes", sa.BigInteger, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("width", sa.Integer),
        sa.Column("height", sa.Integer),
        sa.Column("duration_ms", sa.BigInteger),
        sa.Column("filename", sa.String(255)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status_changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("status IN ('ready', 'deleting')", name="ck_media_status"),
    )
    op.create_index("uq_media_team_sha256", "media", ["team_id", "sha256"], unique=True)
    op.create_index("ix_media_team_created", "media", ["team_id", "created_at", "id"])
    op.create_table(
        "uploads",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("team_id", sa.Uuid, nullable=False),
        sa.Column("media_id", sa.Uuid, nullable=False),
        sa.Column("storage_key", sa.String(1024), nullable=False),
        sa.Column("multipart_id", sa.Text),
        sa.Column("size_bytes", sa.BigInteger, nullable=False),
        sa.Column("sha256", sa.String(64)),
        sa.Column("filename", sa.String(255)),
        sa.Column("actor", sa.String(80), nullable=False),
        sa.Column("received_bytes", sa.BigInteger, nullable=False),
        sa.Column("parts", JSONB, nullable=False),
        sa.Column("pending", JSONB, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_uploads_updated", "uploads", ["updated_at"])
    create_outbox(op)


def downgrade() -> None:
    drop_outbox(op)
    op.drop_table("uploads")
    op.drop_table("media")
