"""steward sign-in: sessions and one-time sign-in links

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 13:00:00

steward_session holds the workbench's server-side sessions (hashes of the cookie secrets only) and
steward_sign_in_link the development sign-in links (hashes of single-use codes). Both are
tenant-scoped: the cookie names its tenant, so a session is found under 0006's tenant-isolation
policy like every other row.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SAME_TENANT = "tenant_id = current_setting('identity.tenant', true)"


def upgrade() -> None:
    op.create_table(
        "steward_session",
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("person", sa.String(length=128), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("csrf_secret", sa.String(length=64), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id_hash", name=op.f("pk_steward_session")),
    )
    op.create_index(
        op.f("ix_steward_session_tenant_id_last_seen_at"),
        "steward_session",
        ["tenant_id", "last_seen_at"],
    )
    op.create_table(
        "steward_sign_in_link",
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("person", sa.String(length=128), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("code_hash", name=op.f("pk_steward_sign_in_link")),
    )
    if op.get_bind().dialect.name == "postgresql":
        for table in ("steward_session", "steward_sign_in_link"):
            op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
            op.execute(
                f"CREATE POLICY tenant_isolation ON {table} "
                f"USING ({_SAME_TENANT}) WITH CHECK ({_SAME_TENANT})"
            )


def downgrade() -> None:
    op.drop_table("steward_sign_in_link")
    op.drop_index(op.f("ix_steward_session_tenant_id_last_seen_at"), table_name="steward_session")
    op.drop_table("steward_session")
