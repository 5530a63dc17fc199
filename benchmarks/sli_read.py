"""What one reading of the service-level indicators costs (identity/observability/sli.py): the
per-tenant queries a scrape runs at most once per IDENTITY_SLI_REFRESH_S, on a tenant with
`--per-day` decisions a day (36 hours of them stored, each with its audit event; a third each
match, review, no match). Prints the whole reading and each query's share.

    .venv/bin/python -m benchmarks.sli_read [--per-day 100000] [--db sqlite|postgresql]

Data is synthetic and written straight into the tables (no matching): only the reads are timed.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, text
from sqlalchemy.orm import Session, sessionmaker

from benchmarks.machine import machine_block
from benchmarks.postgres import postgres_server
from identity.config import Settings
from identity.db import make_engine, make_session_factory, transaction, upgrade
from identity.matching.policy import find_policy
from identity.models import AuditEvent, MatchDecision
from identity.observability import sli_repository as repo
from identity.observability.sli import AUDIT_TRACE_WINDOW, SliWindow, read_all
from identity.policy import service as policy_service

TENANT = "bench-payer"


@contextmanager
def database(kind: str) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{Path(tempfile.mkdtemp()) / 'sli.db'}"
        return
    with postgres_server() as server:
        yield server.fresh_database("sli")


def seed(factory: sessionmaker[Session], per_day: int, policy: str, now: datetime) -> None:
    total = per_day * 3 // 2
    step = timedelta(days=1.5) / max(total, 1)
    decisions, events = [], []
    for i in range(total):
        at = now - step * i
        match_id = str(uuid.uuid4())
        decisions.append(
            {
                "id": match_id,
                "tenant_id": TENANT,
                "created_at": at,
                "input_fingerprint": uuid.uuid4().hex * 2,
                "policy_version": policy,
                "outcome": ("match", "review", "no_match")[i % 3],
                "stage": "probabilistic",
                "reason": "bench",
                "member_id": f"M{i}",
                "candidates": [],
                "evidence": {},
                "timings_ms": {},
            }
        )
        events.append(
            {
                "tenant_id": TENANT,
                "seq": total - i,
                "occurred_at": at,
                "action": "match.create",
                "outcome": "success",
                "object_type": "match_decision",
                "object_ids": [match_id],
                "prev_hash": "0" * 64,
                "hash": "0" * 64,
            }
        )
    events.reverse()
    with factory() as session:
        for start in range(0, total, 20_000):
            session.execute(insert(MatchDecision), decisions[start : start + 20_000])
            session.execute(insert(AuditEvent), events[start : start + 20_000])
        session.commit()


def timed(run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--per-day", type=int, default=100_000)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()
    with database(args.db) as url:
        upgrade(url)
        settings = Settings(database_url=url)
        factory = make_session_factory(make_engine(settings))
        policy = find_policy(settings.rules_dir, "default")
        with transaction(factory) as session:
            policy_service.activate(session, TENANT, policy)
        now = datetime.now(UTC)
        seed(factory, args.per_day, policy.version, now)
        if args.db == "postgresql":  # what autovacuum does soon after a load this size
            with factory() as session:
                session.execute(text("ANALYZE match_decision"))
                session.execute(text("ANALYZE audit_event"))
                session.commit()
        window = SliWindow(settings.sli_window_hours, settings.sli_overturn_days)
        read_all(factory, [TENANT], window, now)  # warm caches: a scrape every minute keeps them
        whole = min(timed(lambda: read_all(factory, [TENANT], window, now)) for _ in range(3))
        since = now - timedelta(hours=window.hours)
        traced = now - AUDIT_TRACE_WINDOW
        with factory() as session:
            parts = {
                "decisions by outcome (day)": lambda: repo.decisions_by_outcome(
                    session, TENANT, since
                ),
                "automatic matches overturned (30 days)": lambda: repo.automatic_matches_overturned(
                    session, TENANT, now - timedelta(days=30)
                ),
                "decision ids (hour)": lambda: repo.decision_ids(session, TENANT, traced),
                "audited ids (hour, from the chain head)": lambda: repo.audited_ids(
                    session, TENANT, traced
                ),
            }
            costs = {name: min(timed(run) for _ in range(3)) for name, run in parts.items()}
    print(f"SLI reading, {args.per_day:,} decisions a day, {args.db}: {whole * 1000:.0f} ms")
    for name, cost in costs.items():
        print(f"  {name:42} {cost * 1000:7.1f} ms")
    print()
    print(machine_block())


if __name__ == "__main__":
    main()
