"""audit trail: append-only, hash-chained audit events and each tenant's chain head

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 07:42:56.198323

Triggers make `audit_event` append-only for everyone but a database owner who drops or disables
them; such tampering is what the hash chain (`identity audit verify`) then reveals. The head may
only advance one event at a time and is never deleted, so a truncated tail stays visible.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY = "audit_event is append-only"
HEAD_FORWARD = "audit_chain_head only advances one event at a time"

SQLITE_TRIGGERS = {
    "audit_event_no_update": f"""
        CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON audit_event
        BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END""",
    "audit_event_no_delete": f"""
        CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_event
        BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END""",
    "audit_chain_head_forward": f"""
        CREATE TRIGGER audit_chain_head_forward BEFORE UPDATE ON audit_chain_head
        WHEN NEW.tenant_id <> OLD.tenant_id OR NEW.seq <> OLD.seq + 1
        BEGIN SELECT RAISE(ABORT, '{HEAD_FORWARD}'); END""",
    "audit_chain_head_no_delete": f"""
        CREATE TRIGGER audit_chain_head_no_delete BEFORE DELETE ON audit_chain_head
        BEGIN SELECT RAISE(ABORT, '{HEAD_FORWARD}'); END""",
}

POSTGRES_UP = [
    f"""
    CREATE FUNCTION audit_event_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '{APPEND_ONLY}' USING ERRCODE = 'insufficient_privilege';
    END $$""",
    """
    CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_event
    FOR EACH ROW EXECUTE FUNCTION audit_event_refuse_change()""",
    # TRUNCATE skips row triggers; refuse it with a statement trigger.
    """
    CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event
    FOR EACH STATEMENT EXECUTE FUNCTION audit_event_refuse_change()""",
    f"""
    CREATE FUNCTION audit_chain_head_forward() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'UPDATE' AND NEW.tenant_id = OLD.tenant_id AND NEW.seq = OLD.seq + 1 THEN
            RETURN NEW;
        END IF;
        RAISE EXCEPTION '{HEAD_FORWARD}' USING ERRCODE = 'insufficient_privilege';
    END $$""",
    """
    CREATE TRIGGER audit_chain_head_forward BEFORE UPDATE OR DELETE ON audit_chain_head
    FOR EACH ROW EXECUTE FUNCTION audit_chain_head_forward()""",
    """
    CREATE TRIGGER audit_chain_head_no_truncate BEFORE TRUNCATE ON audit_chain_head
    FOR EACH STATEMENT EXECUTE FUNCTION audit_chain_head_forward()""",
]

POSTGRES_DOWN = [
    "DROP TRIGGER IF EXISTS audit_chain_head_no_truncate ON audit_chain_head",
    "DROP TRIGGER IF EXISTS audit_chain_head_forward ON audit_chain_head",
    "DROP FUNCTION IF EXISTS audit_chain_head_forward()",
    "DROP TRIGGER IF EXISTS audit_event_no_truncate ON audit_event",
    "DROP TRIGGER IF EXISTS audit_event_append_only ON audit_event",
    "DROP FUNCTION IF EXISTS audit_event_refuse_change()",
]


def upgrade() -> None:
    op.create_table(
        "audit_chain_head",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_audit_chain_head")),
    )
    op.create_table(
        "audit_event",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("client_id", sa.String(length=64), nullable=True),
        sa.Column("action", sa.String(length=48), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("object_type", sa.String(length=32), nullable=True),
        sa.Column(
            "object_ids",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("policy_version", sa.String(length=120), nullable=True),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_event")),
        sa.UniqueConstraint("tenant_id", "seq", name=op.f("uq_audit_event_tenant_id_seq")),
    )
    if op.get_bind().dialect.name == "postgresql":
        for statement in POSTGRES_UP:
            op.execute(statement)
    else:
        for statement in SQLITE_TRIGGERS.values():
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in POSTGRES_DOWN:
            op.execute(statement)
    else:
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_table("audit_event")
    op.drop_table("audit_chain_head")
