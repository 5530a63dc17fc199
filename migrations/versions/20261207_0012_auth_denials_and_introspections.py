"""token introspections (denied-request aggregates need no table)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 12:00:00

token_introspection records which client introspected which match token, so a gate may report
retrievals only for tokens it introspected itself; on PostgreSQL it gets 0006's tenant-isolation
policy. Refused unauthenticated requests are counted in memory and written as aggregate audit
events (identity/audit/denials.py): no table of their own.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SAME_TENANT = "tenant_id = current_setting('identity.tenant', true)"


def upgrade() -> None:
    op.create_table(
        "token_introspection",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("token_id", sa.String(length=36), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("first_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "tenant_id", "token_id", "client_id", name=op.f("pk_token_introspection")
        ),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE token_introspection ENABLE ROW LEVEL SECURITY")
        op.execute(
            "CREATE POLICY tenant_isolation ON token_introspection "
            f"USING ({_SAME_TENANT}) WITH CHECK ({_SAME_TENANT})"
        )


def downgrade() -> None:
    # Dropping the table drops its policy with it.
    op.drop_table("token_introspection")
