"""The in-memory member store (identity/member/store.py) against SQL: what building it costs
(seconds, RSS) and candidate retrieval's CPU per query, with another connection's commit before
each query (as group commit makes every request see), the two alternated over the same queries.

    python -m benchmarks.member_store_bench --members 1000000 --queries 400 --rounds 2

Reads the benchmark's SQLite copy (`var/bench/<members>-7/sqlite.db`). A copy made before
migration 0023 gets the `member_change` table (no triggers) for the run and loses it after; the
commits between queries go to a scratch table, dropped after.
"""

from __future__ import annotations

import argparse
import gc
import sqlite3
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import orjson
from sqlalchemy.orm import Session, sessionmaker

from benchmarks import TENANT
from benchmarks.load_bench import bench_dir
from benchmarks.machine import machine_rows
from identity.config import Settings
from identity.db import make_engine, make_session_factory, upgrade
from identity.errors import InvalidInput
from identity.matching.blocking import blocking_keys
from identity.matching.policy import find_policy
from identity.matching.standardize import standardize
from identity.member import store_registry
from identity.member.repository import retrieve_candidates
from identity.member.store import MemberStores
from identity.resolution import service

TODAY = date(2026, 12, 7)


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):  # not the mmap of the file
            return int(line.split()[1]) / 1024
    return 0.0


def _queries(path: Path, count: int) -> list[list[str]]:
    keys = find_policy(Path("matching_rules"), "default").document.blocking.keys
    found: list[list[str]] = []
    for line in path.read_bytes().splitlines():
        try:
            raw = service.parse_match_request(orjson.loads(line)["request"], TODAY)
        except InvalidInput:
            continue
        found.append(list(blocking_keys(standardize(raw, today=TODAY), keys)))
        if len(found) == count:
            break
    return found


def _timed(
    factory: sessionmaker[Session], queries: list[list[str]], before_each: Callable[[], None]
) -> tuple[float, int]:
    """CPU ms per query of `retrieve_candidates`, each in its own transaction; candidates."""
    policy = find_policy(Path("matching_rules"), "default").document.blocking
    cpu = 0.0
    found = 0
    for keys in queries:
        before_each()
        with factory() as session:
            started = time.process_time()
            got = retrieve_candidates(
                session,
                TENANT,
                keys,
                max_block_size=policy.max_block_size,
                max_candidates=policy.max_candidates,
            )
            cpu += time.process_time() - started
            session.rollback()
        found += len(got.candidates)
    return cpu * 1000 / len(queries), found


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--members", type=int, default=100_000)
    p.add_argument("--queries", type=int, default=400)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--seed", type=int, default=7)
    args = p.parse_args()
    folder = bench_dir(args.members, args.seed)  # a database `python -m benchmarks http` made
    db = folder / "sqlite.db"
    settings = Settings(database_url=f"sqlite:///{db}")
    upgrade(settings.database_url)  # at head, as the server would serve it (member_change too)
    engine = make_engine(settings)
    factory = make_session_factory(engine)
    writer = sqlite3.connect(db, timeout=30)
    writer.execute("CREATE TABLE IF NOT EXISTS _bench_commit (n INTEGER)")
    writer.commit()

    def commit() -> None:
        writer.execute("INSERT INTO _bench_commit VALUES (1)")
        writer.execute("DELETE FROM _bench_commit")
        writer.commit()

    try:
        queries = _queries(folder / "data" / "queries.ndjson", args.queries)
        gc.collect()
        rss0 = _rss_mb()
        stores = MemberStores(factory, max_members=10**8, max_changes=1000)
        wall, cpu = time.perf_counter(), time.process_time()
        snapshot = stores.rebuild(TENANT)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        gc.collect()
        assert snapshot is not None
        print(
            f"build: {snapshot.members:,} members, {len(snapshot._hashes):,} keys, "
            f"{wall:.1f} s wall, {cpu:.1f} s CPU, anonymous RSS +{_rss_mb() - rss0:.0f} MB "
            f"(arrays and texts {snapshot.nbytes / 1e6:.0f} MB)"
        )
        for round_ in range(args.rounds):
            for mode in ("sql", "store"):
                store_registry.serve(engine, stores if mode == "store" else None)
                ms, found = _timed(factory, queries, commit)
                print(
                    f"round {round_ + 1} {mode:5}: {ms:.3f} ms CPU per query "
                    f"({len(queries)} queries, {found} candidates, a commit before each)"
                )
        store_registry.serve(engine, None)
        for name, value in machine_rows():
            print(f"{name}: {value}")
    finally:
        writer.execute("DROP TABLE IF EXISTS _bench_commit")
        writer.commit()
        writer.close()
        engine.dispose()


if __name__ == "__main__":
    main()
