"""retention: purged decisions and requests

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UNPURGED = "purged_at IS NULL"


def upgrade() -> None:
    # When `identity purge` removed a decision's demographics (null: still held). Adding a
    # nullable column is an ALTER on both databases, never a table copy.
    with op.batch_alter_table("match_decision", schema=None) as batch_op:
        batch_op.add_column(sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True))
    # The purge walks each tenant's unpurged decisions oldest first; a partial index holds only
    # those, so the purged years are never scanned again.
    op.create_index(
        "ix_match_decision_unpurged",
        "match_decision",
        ["tenant_id", "created_at", "id"],
        unique=False,
        sqlite_where=sa.text(_UNPURGED),
        postgresql_where=sa.text(_UNPURGED),
    )


def downgrade() -> None:
    op.drop_index("ix_match_decision_unpurged", table_name="match_decision")
    with op.batch_alter_table("match_decision", schema=None) as batch_op:
        batch_op.drop_column("purged_at")
