"""compact per-member comparison features: member.features, one JSON array per member

Candidate retrieval reads this column with the blocking keys (one indexed read per match)
instead of the twenty standardised columns. The backfill builds each existing member's array from
those columns in layout 1 of identity/member/features.py, frozen here as it was when written (a
later layout is a later migration's business); rows it has not reached yet would still be read
from their columns, so the backfill's batches need not be one transaction with the upgrade.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 18:00:00
"""

from collections.abc import Sequence
from datetime import date
from typing import Any

import orjson
import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SCALAR = (
    "given",
    "middle",
    "family",
    "suffix",
    "given_phonetic",
    "family_phonetic",
    "birth_date",
    "sex",
    "phone",
    "email",
    "address_line",
    "unit",
    "city",
    "state",
    "zip5",
    "ssn",
)
_MULTI = ("family_parts", "earlier_families", "phones", "subscriber_ids")
_BATCH = 5_000


def _layout_1(row: Any) -> str:
    """identity/member/features.py: encode(record_from_row(row)), layout 1."""
    extra = row.extra or {}
    if isinstance(extra, str):  # SQLite's JSON column read without the ORM's type
        extra = orjson.loads(extra)
    birth = row.birth_date
    if isinstance(birth, str):
        birth = date.fromisoformat(birth)
    values: list[Any] = [1]
    values += [getattr(row, c) for c in _SCALAR]
    values[7] = None if birth is None else birth.isoformat()
    values += [list(extra.get(m, ())) for m in _MULTI]
    values.append(sorted(extra.get("given_canonicals", ())))
    return orjson.dumps(values).decode()


def upgrade() -> None:
    with op.batch_alter_table("member", schema=None) as batch_op:
        batch_op.add_column(sa.Column("features", sa.Text(), nullable=True))
    bind = op.get_bind()
    member = sa.table(
        "member",
        sa.column("id", sa.BigInteger()),
        sa.column("features", sa.Text()),
        sa.column("extra", sa.JSON()),
        *(sa.column(c, sa.Date() if c == "birth_date" else sa.String()) for c in _SCALAR),
    )
    last = 0
    while True:  # by primary key, a batch at a time: memory stays flat at any size
        rows = bind.execute(
            sa.select(member.c.id, member.c.extra, *(member.c[c] for c in _SCALAR))
            .where(member.c.id > last)
            .order_by(member.c.id)
            .limit(_BATCH)
        ).all()
        if not rows:
            break
        bind.execute(
            sa.update(member)
            .where(member.c.id == sa.bindparam("pk"))
            .values(features=sa.bindparam("value")),
            [{"pk": r.id, "value": _layout_1(r)} for r in rows],
        )
        last = rows[-1].id


def downgrade() -> None:
    with op.batch_alter_table("member", schema=None) as batch_op:
        batch_op.drop_column("features")
