"""match tokens; the organisation a client speaks for

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 09:00:00

match_token holds only a hash of each token with what it is bound to; on PostgreSQL it gets the
same tenant-isolation policy as 0006's tables. api_client gains the organisation identifier a
member's consent must name as its recipient.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SAME_TENANT = "tenant_id = current_setting('identity.tenant', true)"


def upgrade() -> None:
    op.create_table(
        "match_token",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("member_id", sa.String(length=64), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=True),
        sa.Column("consent_category", sa.String(length=16), nullable=False),
        sa.Column("consent_start", sa.Date(), nullable=True),
        sa.Column("consent_end", sa.Date(), nullable=True),
        sa.Column("policy_version", sa.String(length=120), nullable=False),
        sa.Column("decision_id", sa.String(length=64), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_reason", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_match_token")),
    )
    with op.batch_alter_table("match_token", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_match_token_token_hash"), ["token_hash"], unique=True)
        batch_op.create_index(
            batch_op.f("ix_match_token_tenant_id_member_id"), ["tenant_id", "member_id"]
        )
        batch_op.create_index(
            batch_op.f("ix_match_token_tenant_id_decision_id"), ["tenant_id", "decision_id"]
        )
    with op.batch_alter_table("api_client", schema=None) as batch_op:
        batch_op.add_column(sa.Column("organization_system", sa.String(length=255)))
        batch_op.add_column(sa.Column("organization_value", sa.String(length=128)))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE match_token ENABLE ROW LEVEL SECURITY")
        op.execute(
            "CREATE POLICY tenant_isolation ON match_token "
            f"USING ({_SAME_TENANT}) WITH CHECK ({_SAME_TENANT})"
        )


def downgrade() -> None:
    with op.batch_alter_table("api_client", schema=None) as batch_op:
        batch_op.drop_column("organization_value")
        batch_op.drop_column("organization_system")
    # Dropping the table drops its policy with it.
    with op.batch_alter_table("match_token", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_match_token_tenant_id_decision_id"))
        batch_op.drop_index(batch_op.f("ix_match_token_tenant_id_member_id"))
        batch_op.drop_index(batch_op.f("ix_match_token_token_hash"))
    op.drop_table("match_token")
