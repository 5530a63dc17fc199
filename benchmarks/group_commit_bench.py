"""`python -m benchmarks.group_commit_bench`: the commit path alone, one commit per request
against group commit (identity/group_commit.py), on SQLite and on a durable PostgreSQL.

Each simulated request writes what a `/v1/match` writes (a decision with a ~3 kB evidence
document and its audit event on the tenant's chain) from its own thread, `concurrency` at a time,
with no matching work: what is measured is how many such transactions the database path commits
per second and how long a request waits for its commit, the part of a request that group commit
changes. The figures are printed with the machine's load; nothing is asserted.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from benchmarks.machine import machine_block, markdown_table
from benchmarks.postgres import postgres_server, settings_summary
from identity import group_commit
from identity.audit import service as audit
from identity.audit.actor import Actor
from identity.config import Settings
from identity.db import (
    bind_tenant,
    finish,
    insert_row,
    make_engine,
    make_session_factory,
    transaction,
    upgrade,
)
from identity.matching.policy import find_policy
from identity.models import MatchDecision
from identity.policy import service as policy_service

REPO = Path(__file__).resolve().parent.parent
TENANT = "bench-payer"
EVIDENCE = {"candidates": [{"member_id": f"M{i}", "levels": list(range(30))} for i in range(20)]}


def _request_writes(session: Session, policy: str, n: int) -> None:
    """What a /v1/match request writes: its decision, then its audit event."""
    decision = MatchDecision(
        id=str(uuid.uuid4()),
        tenant_id=TENANT,
        input_fingerprint=f"{n:064d}",
        policy_version=policy,
        outcome="no_match",
        stage="probabilistic",
        reason="below-threshold",
        member_id=None,
        probability=0.01,
        candidates=[],
        stored_evidence=EVIDENCE,
        timings_ms={},
    )
    group_commit.stage(session)
    insert_row(session, decision)
    audit.record(
        session,
        Actor(TENANT, "bench", f"r{n}"),
        action="match.create",
        outcome="success",
        object_type="match_decision",
        object_ids=[decision.id],
        policy_version=policy,
    )


def _one_commit(sessions: sessionmaker[Session], policy: str) -> Callable[[int], None]:
    def run(n: int) -> None:
        session = sessions()
        bind_tenant(session, TENANT)
        _request_writes(session, policy, n)
        finish(session, commit=True)

    return run


def _grouped(sessions: sessionmaker[Session], policy: str) -> Callable[[int], None]:
    committer = group_commit.committer_for(sessions)

    def run(n: int) -> None:
        session = sessions()
        bind_tenant(session, TENANT)
        group_commit.allow(session)
        _request_writes(session, policy, n)
        unit = group_commit.hand_over(session)
        assert unit is not None
        committer.submit(unit).result()

    return run


def _measure(request: Callable[[int], None], concurrency: int, count: int) -> list[str]:
    latencies: list[float] = []
    lock = threading.Lock()

    def timed(n: int) -> None:
        began = time.perf_counter()
        request(n)
        with lock:
            latencies.append((time.perf_counter() - began) * 1000)

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(timed, range(count)))
    seconds = time.perf_counter() - started
    latencies.sort()
    p50 = latencies[len(latencies) // 2]
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return [f"{count / seconds:,.0f}", f"{p50:.1f}", f"{p99:.1f}"]


def _run_db(db: str, url: str, levels: list[int], count: int) -> list[list[str]]:
    upgrade(url)
    sessions = make_session_factory(make_engine(Settings(database_url=url)))
    policy = find_policy(REPO / "matching_rules", "default")
    with transaction(sessions) as session:
        policy_service.activate(session, TENANT, policy)
    rows = []
    for concurrency in levels:
        for label, request in (
            ("one commit per request", _one_commit(sessions, policy.version)),
            ("group commit", _grouped(sessions, policy.version)),
        ):
            _measure(request, concurrency, min(count, 50))  # warm-up
            rows.append([db, str(concurrency), label, *_measure(request, concurrency, count)])
            print(" | ".join(rows[-1]), flush=True)
    with sessions() as session:
        report = audit.verify(session, TENANT)
    assert report.intact, report.breaks
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--concurrency", default="1,8,32", help="e.g. 1,8,32")
    parser.add_argument("--requests", type=int, default=2000, help="per level and path")
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    rows: list[list[str]] = []
    extra: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="identity-gc-bench-") as tmp:
        if args.db in ("sqlite", "both"):
            rows += _run_db("sqlite", f"sqlite:///{Path(tmp) / 'bench.db'}", levels, args.requests)
        if args.db in ("postgresql", "both"):
            with postgres_server() as server:
                server.execute("CREATE DATABASE gc_bench")
                extra["PostgreSQL"] = f"{server.version()} ({settings_summary()})"
                rows += _run_db("postgresql", server.url("gc_bench"), levels, args.requests)
    header = ["database", "concurrency", "path", "requests/s", "p50 ms", "p99 ms"]
    print()
    print(f"### The commit path alone: {args.requests:,} requests per level and path")
    print()
    print(markdown_table(header, rows))
    print()
    print(machine_block(extra))


if __name__ == "__main__":
    main()
