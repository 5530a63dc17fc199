"""Rows and bytes per member, for docs/sizing.md: `python -m benchmarks.sizing`.

PostgreSQL: a durable throwaway server, the generated master (var/bench/<members>-<seed>/) loaded
by `load_members` as `identity members load` does, VACUUM ANALYZE, then each table's rows, heap
and index bytes. SQLite (`--sqlite FILE`): the same figures read from an already loaded database
file through its dbstat table, opened read-only.
"""

from __future__ import annotations

import argparse
import sqlite3
import time
from pathlib import Path

import psycopg

from benchmarks.postgres import postgres_server
from identity.config import Settings
from identity.db import make_engine, make_session_factory, upgrade
from identity.member import service

TENANT = "bench-payer"
TABLES = ("member", "coverage", "blocking_key")


def _print(db: str, members: int, sizes: dict[str, tuple[int, int, int]]) -> None:
    print(f"\n{db}, {members:,} members\n")
    print("| table | rows | rows / member | heap MB | index MB | bytes / member |")
    print("| --- | --- | --- | --- | --- | --- |")
    total = 0
    for table, (rows, heap, index) in sizes.items():
        total += heap + index
        print(
            f"| {table} | {rows:,} | {rows / members:.1f} | {heap / 1e6:.1f} | "
            f"{index / 1e6:.1f} | {(heap + index) / members:,.0f} |"
        )
    print(f"| all three | | | | | **{total / members:,.0f}** |")


def postgres(members_file: Path, members: int) -> None:
    with postgres_server() as server:
        url = server.fresh_database("sizing")
        upgrade(url)
        engine = make_engine(Settings(database_url=url, default_tenant=TENANT))
        session = make_session_factory(engine)()
        t0 = time.perf_counter()
        report = service.load_members(session, TENANT, [members_file])
        session.commit()
        session.close()
        engine.dispose()
        print(f"loaded {report.read:,} lines in {time.perf_counter() - t0:.0f} s")
        server.execute("VACUUM ANALYZE", database="sizing")
        sizes = {}
        with psycopg.connect(server.admin_url("sizing"), autocommit=True) as conn:
            for table in TABLES:
                row = conn.execute(
                    f"SELECT count(*), pg_table_size('{table}'), pg_indexes_size('{table}') "
                    f"FROM {table}"
                ).fetchone()
                assert row is not None
                sizes[table] = (int(row[0]), int(row[1]), int(row[2]))
            for name, size in conn.execute(
                "SELECT indexrelname, pg_relation_size(indexrelid) FROM pg_stat_user_indexes "
                "WHERE relname = ANY(%s) ORDER BY 2 DESC",
                (list(TABLES),),
            ):
                print(f"  index {name}: {size / members:,.0f} bytes / member")
        _print(f"PostgreSQL {server.version()}", members, sizes)


def sqlite(path: Path) -> None:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    members = int(conn.execute("SELECT count(*) FROM member").fetchone()[0])
    sizes = {}
    for table in TABLES:
        rows = int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # noqa: S608
        heap = int(
            conn.execute("SELECT sum(pgsize) FROM dbstat WHERE name = ?", (table,)).fetchone()[0]
        )
        index = int(
            conn.execute(
                "SELECT coalesce(sum(pgsize), 0) FROM dbstat WHERE name IN "
                "(SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = ?)",
                (table,),
            ).fetchone()[0]
        )
        sizes[table] = (rows, heap, index)
    _print(f"SQLite {sqlite3.sqlite_version}", members, sizes)


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.sizing")
    p.add_argument("--members", type=int, default=10_000)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--sqlite", type=Path, help="a loaded SQLite database to read instead")
    args = p.parse_args()
    if args.sqlite:
        sqlite(args.sqlite)
        return
    members_file = Path("var/bench") / f"{args.members}-{args.seed}" / "data" / "members.ndjson"
    postgres(members_file, args.members)


if __name__ == "__main__":
    main()
