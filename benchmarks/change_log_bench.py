"""Pruning the member change log (`identity purge`: retention/service.py `prune_member_changes`)
at the size a 1M-member reload leaves behind: how long one batch's transaction takes (on SQLite
it holds the write lock that long), the whole prune's rate, the purge's scan for tenants to
prune, and the member store's gap check (`still_logged`, one primary key read), on a fresh
scratch database of each kind (PostgreSQL: a throwaway durable cluster).

    python -m benchmarks.change_log_bench --rows 3000000 --db both
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from benchmarks import TENANT
from benchmarks.machine import machine_block, markdown_table
from benchmarks.postgres import postgres_server
from identity.config import Settings
from identity.db import make_engine, make_session_factory, tenant_transaction, upgrade
from identity.member import store_repository as change_log
from identity.retention.service import CHANGE_ROWS_PER_BATCH, prune_member_changes

OTHER = "bench-other"
_FILL = {
    "sqlite": "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :rows) "
    "INSERT INTO member_change (tenant_id, member_pk) SELECT :tenant, i FROM n",
    "postgresql": "INSERT INTO member_change (tenant_id, member_pk) "
    "SELECT :tenant, g FROM generate_series(1, :rows) AS g",
}


@contextmanager
def _database(kind: str) -> Iterator[str]:
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="identity-change-log-") as folder:
            yield f"sqlite:///{Path(folder) / 'scratch.db'}"
        return
    with postgres_server() as server:
        yield server.fresh_database("change_log")


def _fill(sessions: sessionmaker[Session], kind: str, rows: int) -> None:
    with sessions() as session:
        for tenant, n in ((OTHER, 1000), (TENANT, rows)):
            session.execute(text(_FILL[kind]), {"tenant": tenant, "rows": n})
        session.commit()
        if kind == "postgresql":
            session.execute(text("ANALYZE member_change"))
            session.commit()


def _measure(kind: str, rows: int, keep: int, timed_batches: int) -> list[str]:
    with _database(kind) as url:
        upgrade(url)
        engine = make_engine(Settings(database_url=url))
        sessions = make_session_factory(engine)
        started = time.perf_counter()
        _fill(sessions, kind, rows)
        filled_s = time.perf_counter() - started

        with sessions() as session:
            started = time.perf_counter()
            due = change_log.tenants_logging_more_than(session.connection(), keep)
            scan_ms = (time.perf_counter() - started) * 1000
        assert due == [TENANT], due

        with tenant_transaction(sessions, TENANT) as session:
            connection = session.connection()
            number = change_log.change_number(connection, TENANT)
            change_log.still_logged(connection, TENANT, number)
            calls = 2000
            started = time.perf_counter()
            for _ in range(calls):
                assert change_log.still_logged(connection, TENANT, number)
            check_us = (time.perf_counter() - started) / calls * 1e6
            cutoff = change_log.prune_cutoff(connection, TENANT, keep)

        batch_ms: list[float] = []
        for _ in range(timed_batches):
            started = time.perf_counter()
            with tenant_transaction(sessions, TENANT) as session:
                change_log.prune_batch(session.connection(), TENANT, cutoff, CHANGE_ROWS_PER_BATCH)
            batch_ms.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        rest = prune_member_changes(
            sessions, TENANT, keep=keep, batch_size=CHANGE_ROWS_PER_BATCH, dry_run=False
        )
        rest_s = time.perf_counter() - started
        pruned = rest + timed_batches * CHANGE_ROWS_PER_BATCH
        assert pruned == rows - keep, (pruned, rows, keep)
        with sessions() as session:
            left = session.execute(text("SELECT count(*) FROM member_change")).scalar_one()
        assert left == keep + 1000, left
        engine.dispose()
    return [
        kind,
        f"{rows:,} (filled in {filled_s:.1f} s)",
        f"{scan_ms:.0f} ms",
        f"{check_us:.0f} µs",
        f"{statistics.median(batch_ms):.1f} / {max(batch_ms):.1f} ms",
        f"{rest / rest_s:,.0f} rows/s ({rest_s:.1f} s)",
    ]


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.change_log_bench")
    p.add_argument("--rows", type=int, default=3_000_000, help="log rows of the tenant pruned")
    p.add_argument("--keep", type=int, default=change_log.log_rows_read(1000))
    p.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    p.add_argument("--timed-batches", type=int, default=20)
    args = p.parse_args()
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    rows = [_measure(kind, args.rows, args.keep, args.timed_batches) for kind in kinds]
    header = [
        "database",
        "log rows",
        "tenants-to-prune scan",
        "gap check",
        "batch txn median / max",
    ]
    print(f"Member change log prune, {CHANGE_ROWS_PER_BATCH:,} rows a batch, keep {args.keep:,}")
    print()
    print(markdown_table([*header, "rest of the prune"], rows))
    print()
    print(machine_block())


if __name__ == "__main__":
    main()
