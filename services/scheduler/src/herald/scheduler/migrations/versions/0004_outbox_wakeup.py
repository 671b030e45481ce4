"""The outbox's NOTIFY trigger goes: the relay of the process that wrote the rows is woken in-process.

The trigger made every insert's transaction ``NOTIFY``, and PostgreSQL signals every listening backend of the
database on each one and serialises the commits of notifying transactions: about 0.1 ms of its CPU per commit, for
a wake-up that only the writer's own relay needs (``herald.kit.outbox``). Dropping a trigger takes a brief lock on
the table. During a rolling upgrade, replicas of the earlier version, whose relays waited for the NOTIFY, relay their
own rows at their poll interval (1 s by default) once this has run.

Revision ID: 0004_outbox_wakeup
"""

from alembic import op

from herald.kit.outbox import drop_notify_trigger, restore_notify_trigger

revision = "0004_outbox_wakeup"
down_revision = "0003_due_at"
branch_labels = None
depends_on = None


def upgrade() -> None:
    drop_notify_trigger(op)


def downgrade() -> None:
    restore_notify_trigger(op)
