"""consent withdrawals and the brute-force guard's counters

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 12:00:00

A withdrawal of consent is recorded (it used to revoke tokens and leave nothing behind), and the
guard's attempts gain the key of the person tried (exact names and birth date) so that the
people tried with one card are counted too. The attempts kept so far are dropped: their
demographics key held the given initial, which the guard no longer uses, and they are at most one
window old.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SAME_TENANT = "tenant_id = current_setting('identity.tenant', true)"


def upgrade() -> None:
    op.create_table(
        "consent_withdrawal",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("member_id", sa.String(length=64), nullable=False),
        sa.Column("recipient_system", sa.String(length=255), nullable=True),
        sa.Column("recipient_value", sa.String(length=128), nullable=True),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.Column("revoked_tokens", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_withdrawal")),
    )
    with op.batch_alter_table("consent_withdrawal", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_consent_withdrawal_tenant_id_member_id_withdrawn_at"),
            ["tenant_id", "member_id", "withdrawn_at"],
            unique=False,
        )

    op.execute("DELETE FROM member_match_attempt")
    with op.batch_alter_table("member_match_attempt", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("person_key", sa.String(length=64), nullable=False, server_default="")
        )
        batch_op.create_index(
            batch_op.f("ix_member_match_attempt_tenant_id_client_id_card_key_attempted_at"),
            ["tenant_id", "client_id", "card_key", "attempted_at"],
            unique=False,
        )
    with op.batch_alter_table("member_match_attempt", schema=None) as batch_op:
        batch_op.alter_column("person_key", server_default=None)

    if op.get_bind().dialect.name == "postgresql":  # row-level security, as in 0006
        op.execute("ALTER TABLE consent_withdrawal ENABLE ROW LEVEL SECURITY")
        op.execute(
            "CREATE POLICY tenant_isolation ON consent_withdrawal "
            f"USING ({_SAME_TENANT}) WITH CHECK ({_SAME_TENANT})"
        )


def downgrade() -> None:
    with op.batch_alter_table("member_match_attempt", schema=None) as batch_op:
        batch_op.drop_index(
            batch_op.f("ix_member_match_attempt_tenant_id_client_id_card_key_attempted_at")
        )
        batch_op.drop_column("person_key")
    with op.batch_alter_table("consent_withdrawal", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consent_withdrawal_tenant_id_member_id_withdrawn_at"))
    op.drop_table("consent_withdrawal")
