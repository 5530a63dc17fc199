"""The member load's bulk writes: many rows per statement, through the database's fastest path.

The ORM's executemany spent most of a load's time in Python (per-row statement bookkeeping, a
result object per row). Here rows go to the driver as plain tuples, each value converted by the
column type's own bind processor, so what is stored is exactly what the ORM stored:

- SQLite: one `executemany` per table on the driver connection (a prepared statement, stepped per
  row in C); new members' primary keys are read back by (tenant, member id), the unique index.
- PostgreSQL: `COPY` (psycopg 3) into a temporary staging table of the same column types, then one
  `INSERT ... SELECT` into the real table (so row-level security still checks every row, which
  `COPY` into the table would not allow) with `RETURNING` for the new members' keys.

A large load's blocking keys (about 25 per member) are staged: written to an unindexed temporary
table as the batches go, then moved into `blocking_key` by one `INSERT ... SELECT ... ORDER BY`
in the index's own order before the load commits. Inserted batch by batch, each key landed on a
random page of a primary-key index of tens of millions of rows (the first load's bottleneck); in
index order the B-tree grows by appending. Same rows, same transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from identity.db import in_chunks
from identity.models import BlockingKey, Coverage, Member

_MEMBERS = cast(Table, Member.__table__)
_KEYS = cast(Table, BlockingKey.__table__)
_COVERAGE = cast(Table, Coverage.__table__)


def tenant_members(session: Session, tenant: str) -> dict[str, tuple[int, str]]:
    """Every member of the tenant: member id -> (primary key, content hash). One read, so the
    load needs no lookup per batch (and PostgreSQL no plan made before the table had rows)."""
    rows = session.execute(
        select(Member.member_id, Member.id, Member.content_hash).where(Member.tenant_id == tenant)
    )
    return {member_id: (pk, content_hash) for member_id, pk, content_hash in rows}


def _processors(session: Session, table: Table, columns: Sequence[str]) -> list[Any]:
    dialect = session.get_bind().dialect
    return [table.c[c].type.dialect_impl(dialect).bind_processor(dialect) for c in columns]


def _tuples(
    processors: Sequence[Callable[[Any], Any] | None],
    columns: Sequence[str],
    rows: Iterable[Mapping[str, Any]],
) -> list[tuple[Any, ...]]:
    """The rows as tuples in column order, each value through its column's bind processor
    (only the columns that have one: most values go to the driver as they are)."""
    values = [tuple(row[c] for c in columns) for row in rows]
    convert = [(i, p) for i, p in enumerate(processors) if p is not None]
    if not convert:
        return values
    out: list[tuple[Any, ...]] = []
    for value in values:
        listed = list(value)
        for i, process in convert:
            if listed[i] is not None:
                listed[i] = process(listed[i])
        out.append(tuple(listed))
    return out


def _with_defaults(table: Table, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The rows with the columns' Python-side defaults (timestamps) filled in, as the ORM would,
    evaluated once per call."""
    given = set(rows[0])
    defaults: dict[str, Any] = {}
    for column in table.columns:
        default = column.default
        if column.key in given or default is None or column.primary_key:
            continue
        arg = getattr(default, "arg", None)
        defaults[column.key] = arg(None) if callable(arg) else arg
    return [{**row, **defaults} for row in rows] if defaults else [dict(r) for r in rows]


def _is_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _driver(session: Session) -> Any:
    return session.connection().connection.driver_connection


def _sqlite_insert(
    session: Session, table: Table, columns: Sequence[str], values: list[Any]
) -> None:
    sql = (
        f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    )
    cursor = _driver(session).cursor()
    try:
        cursor.executemany(sql, values)
    finally:
        cursor.close()


def _pg_copy(
    session: Session, table: Table, columns: Sequence[str], values: list[Any], returning: str = ""
) -> list[tuple[Any, ...]]:
    """COPY into a staging table (made once per transaction), then INSERT ... SELECT."""
    stage = f"_load_{table.name}"
    names = ", ".join(columns)
    with _driver(session).cursor() as cursor:
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {stage} ON COMMIT DROP AS "
            f"SELECT {names} FROM {table.name} WITH NO DATA"
        )
        cursor.execute(f"TRUNCATE {stage}")
        with cursor.copy(f"COPY {stage} ({names}) FROM STDIN") as copy:
            for row in values:
                copy.write_row(row)
        sql = f"INSERT INTO {table.name} ({names}) SELECT {names} FROM {stage}"
        cursor.execute(f"{sql} RETURNING {returning}" if returning else sql)
        rows = cursor.fetchall() if returning else []
        cursor.execute(f"DROP TABLE {stage}")  # its columns follow the table's (a migration)
    return [tuple(r) for r in rows]


def insert_members(session: Session, rows: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Insert new members (dicts of the member table's columns, all with the same keys, one
    tenant); returns member id -> primary key."""
    if not rows:
        return {}
    rows = _with_defaults(_MEMBERS, rows)
    columns = list(rows[0])
    values = _tuples(_processors(session, _MEMBERS, columns), columns, rows)
    if _is_postgresql(session):
        return {m: pk for pk, m in _pg_copy(session, _MEMBERS, columns, values, "id, member_id")}
    _sqlite_insert(session, _MEMBERS, columns, values)
    tenant = rows[0]["tenant_id"]
    found: dict[str, int] = {}
    for chunk in in_chunks([r["member_id"] for r in rows]):
        rows_found = session.execute(
            select(Member.member_id, Member.id).where(
                Member.tenant_id == tenant, Member.member_id.in_(chunk)
            )
        )
        found.update({member_id: pk for member_id, pk in rows_found})
    return found


def insert_rows(session: Session, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert rows (dicts with the same keys) into `table`: blocking keys, coverage periods."""
    if not rows:
        return
    rows = _with_defaults(table, rows)
    columns = list(rows[0])
    values = _tuples(_processors(session, table, columns), columns, rows)
    if _is_postgresql(session):
        _pg_copy(session, table, columns, values)
    else:
        _sqlite_insert(session, table, columns, values)


_STAGE = "_staged_blocking_key"
_STAGING = "identity.load.staged_blocking_keys"  # session.info: keys go to _STAGE
_KEY_COLUMNS = ("tenant_id", "key", "member_pk")


@contextmanager
def staged_blocking_keys(session: Session) -> Iterator[None]:
    """While open, `insert_blocking_keys` writes to an unindexed temporary table; call
    `write_staged_blocking_keys` before leaving to move them into `blocking_key`. A failed load
    rolls back; what was staged is never written (and emptied by the next load that stages)."""
    names = ", ".join(_KEY_COLUMNS)
    with closing(_driver(session).cursor()) as cursor:
        if _is_postgresql(session):
            cursor.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS {_STAGE} ON COMMIT DROP AS "
                f"SELECT {names} FROM {_KEYS.name} WITH NO DATA"
            )
        else:  # no declared types: values are kept as given, then typed by blocking_key's
            cursor.execute(f"CREATE TEMP TABLE IF NOT EXISTS {_STAGE} ({names})")
        cursor.execute(f"DELETE FROM {_STAGE}")
    session.info[_STAGING] = True
    try:
        yield
    finally:
        session.info.pop(_STAGING, None)


def write_staged_blocking_keys(session: Session) -> None:
    """Move the staged keys into `blocking_key`, in its primary key's order (appends to the
    B-tree instead of random page writes); the staging table is dropped."""
    names = ", ".join(_KEY_COLUMNS)
    with closing(_driver(session).cursor()) as cursor:
        cursor.execute(
            f"INSERT INTO {_KEYS.name} ({names}) SELECT {names} FROM {_STAGE} ORDER BY {names}"
        )
        cursor.execute(f"DROP TABLE {_STAGE}")


def insert_blocking_keys(session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    """Blocking keys into `blocking_key`, or into the staging table while one is open."""
    if not rows:
        return
    if not session.info.get(_STAGING):
        # In key order: neighbouring index pages, fewer page visits per row.
        insert_rows(session, _KEYS, sorted(rows, key=lambda r: (r["key"], r["member_pk"])))
        return
    values = [(r["tenant_id"], r["key"], r["member_pk"]) for r in rows]
    if _is_postgresql(session):
        copy_sql = f"COPY {_STAGE} ({', '.join(_KEY_COLUMNS)}) FROM STDIN"
        with closing(_driver(session).cursor()) as cursor, cursor.copy(copy_sql) as copy:
            for row in values:
                copy.write_row(row)
    else:
        with closing(_driver(session).cursor()) as cursor:
            cursor.executemany(f"INSERT INTO {_STAGE} VALUES (?, ?, ?)", values)


def insert_coverages(session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    insert_rows(session, _COVERAGE, rows)
