"""Distributions' outcomes as HOT updates: the due index keyed on a generated column instead of a status predicate.

The due index was partial on ``status = 'scheduled'``. PostgreSQL counts a column of an index's predicate as indexed,
so every change of status (claimed, then each outcome) was a non-HOT update that wrote a new entry into each of the
table's five indexes. The index is now on ``due_at``: ``scheduled_at`` while the distribution waits, null otherwise,
computed by PostgreSQL on every write. Only a change into or out of ``scheduled`` changes it; an outcome after the
claim changes no indexed column and is a HOT update when its page has room, which fillfactor 70 keeps.

Adding a stored generated column rewrites the table under an exclusive lock (seconds per million rows): run it in a
quiet moment on a large deployment (``docs/operations.md``, "Upgrading").

Revision ID: 0003_due_at
"""

from alembic import op

revision = "0003_due_at"
down_revision = "0002_media"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Fillfactor first: the rewrite for the new column leaves that room on every page.
    op.execute("ALTER TABLE distributions SET (fillfactor = 70)")
    op.execute(
        "ALTER TABLE distributions ADD COLUMN due_at timestamptz"
        " GENERATED ALWAYS AS (CASE WHEN status = 'scheduled' THEN scheduled_at END) STORED"
    )
    op.execute("DROP INDEX ix_distributions_due")
    op.execute("CREATE INDEX ix_distributions_due ON distributions (due_at) WHERE due_at IS NOT NULL")


def downgrade() -> None:
    op.execute("DROP INDEX ix_distributions_due")
    op.execute("ALTER TABLE distributions DROP COLUMN due_at")
    op.execute("CREATE INDEX ix_distributions_due ON distributions (scheduled_at) WHERE status = 'scheduled'")
    op.execute("ALTER TABLE distributions RESET (fillfactor)")
