"""The outbox's NOTIFY trigger goes: the relay of the process that wrote the rows is woken in-process.

Why, and what it means for a rolling upgrade: ``herald.kit.outbox.drop_notify_trigger``.

Revision ID: 0003
"""

from alembic import op

from herald.kit.outbox import drop_notify_trigger, restore_notify_trigger

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    drop_notify_trigger(op)


def downgrade() -> None:
    restore_notify_trigger(op)
