"""indexes for $member-match's per-request lookups

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-22 09:17:36.839903
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Two lookups $member-match makes per request that scanned: an earlier review of the same
    # request (by fingerprint, over every decision of the tenant) and the guard's forgetting of a
    # client's old attempts.
    with op.batch_alter_table("match_decision", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_match_decision_tenant_id_input_fingerprint"),
            ["tenant_id", "input_fingerprint"],
            unique=False,
        )
    with op.batch_alter_table("member_match_attempt", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_member_match_attempt_tenant_id_client_id_attempted_at"),
            ["tenant_id", "client_id", "attempted_at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("member_match_attempt", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_member_match_attempt_tenant_id_client_id_attempted_at"))
    with op.batch_alter_table("match_decision", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_match_decision_tenant_id_input_fingerprint"))
