"""Audit events: a monthly-partitioned, append-only table and the INSERT/SELECT-only role the service writes as.

Revision ID: 0001
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

WRITER_ROLE = "herald_audit_writer"  # = herald.audit.models.WRITER_ROLE (migrations must not import app code)


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE events (
            event_id       text        COLLATE "C" NOT NULL,  -- bytewise: a cheap, stable keyset tie-breaker
            occurred_at    timestamptz NOT NULL,
            recorded_at    timestamptz NOT NULL,
            event_type     text        NOT NULL,
            source         text        NOT NULL,
            team_id        uuid,
            actor          text        NOT NULL,
            action         text        NOT NULL,
            entity         text        NOT NULL,
            entity_id      text        NOT NULL,
            platform       text,
            correlation_id text        NOT NULL,
            metadata       jsonb       NOT NULL,
            -- The partition key must be part of every unique key; event id + occurred_at come from the same
            -- immutable payload, so this still deduplicates redeliveries and re-publishes.
            PRIMARY KEY (event_id, occurred_at)
        ) PARTITION BY RANGE (occurred_at)
        """
    )
    op.execute("CREATE INDEX events_team_time ON events (team_id, occurred_at, event_id)")
    op.execute("CREATE INDEX events_team_entity ON events (team_id, entity_id, occurred_at, event_id)")
    op.execute(
        """
        CREATE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'audit events are append-only: % refused', TG_OP
                USING HINT = 'old partitions are removed by retention (DROP), never row by row';
        END
        $$
        """
    )
    # Defence in depth behind the role's privileges: even the owner cannot change or delete rows one by one.
    op.execute(
        "CREATE TRIGGER events_no_update_delete BEFORE UPDATE OR DELETE ON events"
        " FOR EACH ROW EXECUTE FUNCTION events_append_only()"
    )
    op.execute(
        "CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events"
        " FOR EACH STATEMENT EXECUTE FUNCTION events_append_only()"
    )
    # Roles are cluster-wide and several databases (or racing replicas) may create this one: tolerate both.
    op.execute(
        f"""
        DO $$
        BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{WRITER_ROLE}') THEN
                CREATE ROLE {WRITER_ROLE} NOLOGIN;
            END IF;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;
        END
        $$
        """
    )
    op.execute(
        f"""
        DO $$
        BEGIN
            EXECUTE format('GRANT USAGE ON SCHEMA %I TO {WRITER_ROLE}', current_schema());
            -- The service connects as the table owner and SET ROLEs to the writer: it must be a member.
            IF NOT pg_has_role(current_user, '{WRITER_ROLE}', 'MEMBER') THEN
                EXECUTE format('GRANT {WRITER_ROLE} TO %I', current_user);
            END IF;
        END
        $$
        """
    )
    op.execute(f"REVOKE ALL ON events FROM {WRITER_ROLE}")
    op.execute(f"GRANT SELECT, INSERT ON events TO {WRITER_ROLE}")


def downgrade() -> None:
    op.execute("DROP TABLE events")
    op.execute("DROP FUNCTION events_append_only()")
    op.execute(f"DO $$ BEGIN EXECUTE format('REVOKE USAGE ON SCHEMA %I FROM {WRITER_ROLE}', current_schema()); END $$")
    # The role itself stays: it is cluster-wide and other databases may still use it.
