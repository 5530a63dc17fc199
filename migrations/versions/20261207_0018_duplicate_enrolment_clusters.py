"""duplicate-enrolment clusters found by `identity dedupe`

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 15:45:00

A cluster of member records that are probably one person enrolled more than once, as
`identity dedupe` found it: the exact set of members (and its key), the decision row holding the
pair weights, and the review item stewards settle. Unique per tenant and member set, so a rerun
never reopens what stewards settled or dismissed. Tenant-scoped: row-level security as in 0006.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SAME_TENANT = "tenant_id = current_setting('identity.tenant', true)"
_TABLE = "duplicate_cluster"


def upgrade() -> None:
    op.create_table(
        _TABLE,
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("members_key", sa.String(length=64), nullable=False),
        sa.Column(
            "member_ids",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("best_probability", sa.Float(), nullable=False),
        sa.Column("policy_version", sa.String(length=120), nullable=False),
        sa.Column("match_id", sa.String(length=36), nullable=False),
        sa.Column("review_item_id", sa.String(length=36), nullable=False),
        sa.Column("found_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["match_id"],
            ["match_decision.id"],
            name=op.f("fk_duplicate_cluster_match_id_match_decision"),
        ),
        sa.ForeignKeyConstraint(
            ["review_item_id"],
            ["review_item.id"],
            name=op.f("fk_duplicate_cluster_review_item_id_review_item"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_duplicate_cluster")),
    )
    with op.batch_alter_table(_TABLE, schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_duplicate_cluster_tenant_id_members_key"),
            ["tenant_id", "members_key"],
            unique=True,
        )
    if op.get_bind().dialect.name == "postgresql":  # row-level security, as in 0006
        op.execute(f"ALTER TABLE {_TABLE} ENABLE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY tenant_isolation ON {_TABLE} "
            f"USING ({_SAME_TENANT}) WITH CHECK ({_SAME_TENANT})"
        )


def downgrade() -> None:
    op.drop_table(_TABLE)
