"""given-name equivalences learned from stewards' links

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 15:00:00

A steward's link of a request to a member whose given name no nickname or diminutive source
makes equivalent to the request's records the pair (`learned_given_name`); a policy that learns
from links uses a pair once enough distinct members were linked with it. A newer decision on the
item, or an undo of the link, deactivates the row. Tenant-scoped: row-level security as in 0006.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SAME_TENANT = "tenant_id = current_setting('identity.tenant', true)"
_TABLE = "learned_given_name"


def upgrade() -> None:
    op.create_table(
        _TABLE,
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("request_given", sa.String(length=100), nullable=False),
        sa.Column("member_given", sa.String(length=100), nullable=False),
        sa.Column("sex", sa.String(length=1), nullable=True),
        sa.Column("member_id", sa.String(length=64), nullable=False),
        sa.Column("resolution_id", sa.String(length=36), nullable=False),
        sa.Column("decided_by", sa.String(length=128), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("undone_by", sa.String(length=128), nullable=True),
        sa.Column("undone_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["resolution_id"],
            ["review_resolution.id"],
            name=op.f("fk_learned_given_name_resolution_id_review_resolution"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_learned_given_name")),
    )
    with op.batch_alter_table(_TABLE, schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_learned_given_name_tenant_id_request_given_active"),
            ["tenant_id", "request_given", "active"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_learned_given_name_tenant_id_member_given_active"),
            ["tenant_id", "member_given", "active"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_learned_given_name_tenant_id_resolution_id"),
            ["tenant_id", "resolution_id"],
            unique=False,
        )
    if op.get_bind().dialect.name == "postgresql":  # row-level security, as in 0006
        op.execute(f"ALTER TABLE {_TABLE} ENABLE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY tenant_isolation ON {_TABLE} "
            f"USING ({_SAME_TENANT}) WITH CHECK ({_SAME_TENANT})"
        )


def downgrade() -> None:
    op.drop_table(_TABLE)
