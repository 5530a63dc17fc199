"""steward decisions: claims, versioned resolutions, remembered decisions, same-person pairs

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 13:00:00

A review item gains a claim lease (it lapses by time alone) and who assigned it; every decision
on it becomes a row of `review_resolution` (older versions marked superseded, never overwritten);
what matching must remember (keep apart / link for a query fingerprint, two member records of
one person) gets tables of its own. Audit events name the signed-in person, when one acted.
Existing resolutions are carried over as version 1 of their item's history.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SAME_TENANT = "tenant_id = current_setting('identity.tenant', true)"
_NEW_TABLES = ("review_resolution", "remembered_decision", "same_person_pair")


def upgrade() -> None:
    # Plain ALTERs on both databases, never a table copy (which would drop the audit table's
    # triggers on SQLite): its triggers refuse UPDATE and DELETE of rows, not a new column.
    op.add_column("audit_event", sa.Column("person", sa.String(length=128), nullable=True))
    op.add_column(
        "review_item", sa.Column("claim_expires_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column("review_item", sa.Column("assigned_by", sa.String(length=128), nullable=True))

    op.create_table(
        "review_resolution",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("item_id", sa.String(length=36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("member_id", sa.String(length=64), nullable=True),
        sa.Column("other_member_id", sa.String(length=64), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("decided_by", sa.String(length=128), nullable=False),
        sa.Column("decided_by_role", sa.String(length=16), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("superseded_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["review_item.id"],
            name=op.f("fk_review_resolution_item_id_review_item"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_resolution")),
        sa.UniqueConstraint(
            "item_id", "version", name=op.f("uq_review_resolution_item_id_version")
        ),
    )
    with op.batch_alter_table("review_resolution", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_review_resolution_tenant_id_member_id"),
            ["tenant_id", "member_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_review_resolution_tenant_id_other_member_id"),
            ["tenant_id", "other_member_id"],
            unique=False,
        )

    op.create_table(
        "remembered_decision",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("input_fingerprint", sa.String(length=64), nullable=False),
        sa.Column("member_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("resolution_id", sa.String(length=36), nullable=False),
        sa.Column("decided_by", sa.String(length=128), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("undone_by", sa.String(length=128), nullable=True),
        sa.Column("undone_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["resolution_id"],
            ["review_resolution.id"],
            name=op.f("fk_remembered_decision_resolution_id_review_resolution"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_remembered_decision")),
    )
    with op.batch_alter_table("remembered_decision", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_remembered_decision_tenant_id_input_fingerprint_active"),
            ["tenant_id", "input_fingerprint", "active"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_remembered_decision_tenant_id_member_id"),
            ["tenant_id", "member_id"],
            unique=False,
        )

    op.create_table(
        "same_person_pair",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("member_id", sa.String(length=64), nullable=False),
        sa.Column("other_member_id", sa.String(length=64), nullable=False),
        sa.Column("resolution_id", sa.String(length=36), nullable=False),
        sa.Column("decided_by", sa.String(length=128), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("undone_by", sa.String(length=128), nullable=True),
        sa.Column("undone_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["resolution_id"],
            ["review_resolution.id"],
            name=op.f("fk_same_person_pair_resolution_id_review_resolution"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_same_person_pair")),
    )
    with op.batch_alter_table("same_person_pair", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_same_person_pair_tenant_id_member_id_active"),
            ["tenant_id", "member_id", "active"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_same_person_pair_tenant_id_other_member_id_active"),
            ["tenant_id", "other_member_id", "active"],
            unique=False,
        )

    # The resolutions made before versions existed become version 1 of their item's history.
    op.execute(
        """
        INSERT INTO review_resolution (id, tenant_id, item_id, version, kind, member_id,
            other_member_id, note, decided_by, decided_by_role, decided_at, superseded_at)
        SELECT id, tenant_id, id, 1, resolution, resolved_member_id, NULL, note,
            COALESCE(resolved_by, '-'), 'steward', resolved_at, NULL
        FROM review_item WHERE resolution IS NOT NULL AND resolved_at IS NOT NULL
        """
    )

    if op.get_bind().dialect.name == "postgresql":  # row-level security, as in 0006
        for table in _NEW_TABLES:
            op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
            op.execute(
                f"CREATE POLICY tenant_isolation ON {table} "
                f"USING ({_SAME_TENANT}) WITH CHECK ({_SAME_TENANT})"
            )


def downgrade() -> None:
    op.drop_table("same_person_pair")
    op.drop_table("remembered_decision")
    op.drop_table("review_resolution")
    # ALTER TABLE … DROP COLUMN (SQLite 3.35+): no table copy, the triggers stay.
    op.drop_column("review_item", "assigned_by")
    op.drop_column("review_item", "claim_expires_at")
    op.drop_column("audit_event", "person")
