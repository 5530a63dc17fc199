"""member match attempts and requests

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22 08:20:44.236473
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


TENANT_TABLES = ("member_match_attempt", "member_match_request")
_SAME_TENANT = "tenant_id = current_setting('identity.tenant', true)"


def upgrade() -> None:
    op.create_table(
        "member_match_attempt",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("demographics_key", sa.String(length=64), nullable=False),
        sa.Column("card_key", sa.String(length=64), nullable=False),
        sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_member_match_attempt")),
    )
    with op.batch_alter_table("member_match_attempt", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_member_match_attempt_tenant_id_client_id_demographics_key_attempted_at"),
            ["tenant_id", "client_id", "demographics_key", "attempted_at"],
            unique=False,
        )

    op.create_table(
        "member_match_request",
        sa.Column("match_id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column(
            "consent",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("match_id", name=op.f("pk_member_match_request")),
    )

    if op.get_bind().dialect.name == "postgresql":  # row-level security, as in 0006
        for table in TENANT_TABLES:
            op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
            op.execute(
                f"CREATE POLICY tenant_isolation ON {table} "
                f"USING ({_SAME_TENANT}) WITH CHECK ({_SAME_TENANT})"
            )


def downgrade() -> None:
    op.drop_table("member_match_request")
    with op.batch_alter_table("member_match_attempt", schema=None) as batch_op:
        batch_op.drop_index(
            batch_op.f("ix_member_match_attempt_tenant_id_client_id_demographics_key_attempted_at")
        )

    op.drop_table("member_match_attempt")
