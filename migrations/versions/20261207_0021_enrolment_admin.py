"""a member's lifecycle, explicit: member.erased_at and the member_lifecycle view

Termination and erasure were recorded only through their effects: coverage periods' end dates and
an emptied record. An operator asking "who left, and when; whose data was erased" now reads them
by name:

- `member.erased_at`: when the member's demographics were last erased on request (written by the
  erasure alone). The backfill gives members erased before this column existed their last update.
- `member_lifecycle` (tenant_id, member_id, member_pk, terminated_on, erased_at): terminated_on is
  the last covered day once every coverage period on file has ended (NULL while one is open, or
  with none on file); erased_at is shown while the record is still erased (a later load that
  brings the member back clears it). A view, not stored columns: it is derived from the coverage
  and the record at read time, so no writer (loads, terminations, reinstatements) can leave it
  stale. On PostgreSQL it runs with the reader's rights (`security_invoker`), so row-level
  security applies to it as to its tables.

Matching reads neither: decisions and evidence are unchanged.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The record an erasure leaves (identity/member/repository.py: erase_demographics).
_ERASED = {
    "postgresql": """m.raw @> '{"erased": true}'::jsonb""",
    "sqlite": "json_extract(m.raw, '$.erased') = 1",
}
_VIEW = """
CREATE VIEW member_lifecycle{options} AS
SELECT
    m.tenant_id,
    m.member_id,
    m.id AS member_pk,
    (
        SELECT CASE WHEN count(*) > 0 AND count(c.period_end) = count(*) THEN max(c.period_end) END
        FROM coverage c
        WHERE c.member_pk = m.id
    ) AS terminated_on,
    CASE WHEN {erased} THEN m.erased_at END AS erased_at
FROM member m
"""


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    with op.batch_alter_table("member", schema=None) as batch_op:
        batch_op.add_column(sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True))
    erased = _ERASED[dialect]
    op.execute(
        f"UPDATE member SET erased_at = updated_at "  # noqa: S608 - constants only
        f"WHERE id IN (SELECT m.id FROM member m WHERE {erased})"
    )
    options = " WITH (security_invoker = true)" if dialect == "postgresql" else ""
    op.execute(_VIEW.format(options=options, erased=erased))


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS member_lifecycle")
    with op.batch_alter_table("member", schema=None) as batch_op:
        batch_op.drop_column("erased_at")
