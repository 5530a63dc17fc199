"""member_change: a per-tenant change number that every member and coverage write bumps

The in-memory member store (identity/member/store.py) answers candidate retrieval without reading
database pages; it must know, exactly, whether what it holds is still the tenant's data. Database
triggers append one row (tenant_id, member_pk) to `member_change` for every row inserted, updated
or deleted in `member` and `coverage`, in the writer's own transaction: no code path can forget
it, and a rolled-back write leaves no row. A tenant's change number is its largest `id` (one
indexed read); the members changed since a store's number are a range read of the same index.

Blocking keys carry no trigger: every writer of `blocking_key` (`upsert_members`, the staged
load, `erase_demographics`) writes the member row in the same transaction, which the member
trigger logs (tests/member/test_member_store.py proves it for each writer). A trigger there would
add 25 log rows per member to a load.

Commit order. SQLite has one writer at a time, so AUTOINCREMENT ids are in commit order. On
PostgreSQL a sequence hands ids out at insert time, not at commit, so the trigger first takes a
transaction-level advisory lock per tenant: two transactions writing one tenant's members take
their ids one after the other, and a reader that sees id N has seen every change numbered below
it. The PostgreSQL triggers are per statement with transition tables (one insert per statement,
also under COPY), SQLite's per row.

Revision ID: 0023
Revises: 0021
Create Date: 2026-12-07 23:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# table -> the column naming the member its rows belong to
_LOGGED = {"member": "id", "coverage": "member_pk"}
# Advisory lock class of the per-tenant change numbering (the second key is the tenant's hash).
LOCK_CLASS = 14023
_SAME_TENANT = "tenant_id = current_setting('identity.tenant', true)"


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.create_table(
        "member_change",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("member_pk", sa.BigInteger(), nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_member_change_tenant_id_id", "member_change", ["tenant_id", "id"])
    if dialect == "postgresql":
        _postgresql_triggers()
    else:
        _sqlite_triggers()


def _sqlite_triggers() -> None:
    for table, pk in _LOGGED.items():
        for event, row in (("INSERT", "NEW"), ("UPDATE", "NEW"), ("DELETE", "OLD")):
            op.execute(
                f"CREATE TRIGGER member_change_{table}_{event.lower()} AFTER {event} ON {table} "
                f"BEGIN INSERT INTO member_change (tenant_id, member_pk) "
                f"VALUES ({row}.tenant_id, {row}.{pk}); END"
            )


def _postgresql_triggers() -> None:
    op.execute("ALTER TABLE member_change ENABLE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenant_isolation ON member_change "
        f"USING ({_SAME_TENANT}) WITH CHECK ({_SAME_TENANT})"
    )
    for table, pk in _LOGGED.items():
        for event, rows in (("INSERT", "new_rows"), ("UPDATE", "new_rows"), ("DELETE", "old_rows")):
            function = f"identity_member_change_{table}_{event.lower()}"
            op.execute(
                f"""
                CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    PERFORM pg_advisory_xact_lock({LOCK_CLASS}, hashtext(t.tenant_id))
                    FROM (SELECT DISTINCT tenant_id FROM {rows} ORDER BY tenant_id) AS t;
                    INSERT INTO member_change (tenant_id, member_pk)
                    SELECT tenant_id, {pk} FROM {rows};
                    RETURN NULL;
                END $$
                """
            )
            referencing = "OLD TABLE AS old_rows" if rows == "old_rows" else "NEW TABLE AS new_rows"
            op.execute(
                f"CREATE TRIGGER member_change_{event.lower()} AFTER {event} ON {table} "
                f"REFERENCING {referencing} FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
            )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for table in _LOGGED:
        for event in ("insert", "update", "delete"):
            if dialect == "postgresql":
                op.execute(f"DROP TRIGGER IF EXISTS member_change_{event} ON {table}")
                op.execute(f"DROP FUNCTION IF EXISTS identity_member_change_{table}_{event}()")
            else:
                op.execute(f"DROP TRIGGER IF EXISTS member_change_{table}_{event}")
    op.drop_index("ix_member_change_tenant_id_id", table_name="member_change")
    op.drop_table("member_change")
