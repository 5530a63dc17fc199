"""`dedupe`: how long `identity dedupe` takes on a synthetic master, and how well it finds the
generator's duplicate enrolments.

    python -m benchmarks.dedupe_bench --members 100000      # target at 1M: 3 min, 6 GB
    python -m benchmarks.dedupe_bench --members 1000000 --dataset var/bench/1000000-7/data

1. A synthetic master (`var/bench/dedupe-<members>-<seed>/`, NDJSON and duplicates.csv), loaded
   into a SQLite file beside it with the default policy active (not timed; kept until --reload).
2. The dedupe, timed, in a fresh child process (its peak memory its own): `find_duplicates` as
   the CLI runs it, reading the master from the database and writing every cluster with its
   decision and review item, then rolled back (so the run can be repeated on the same file).
3. Pairs against the truth: precision and recall of the pairs inside clusters.
"""

from __future__ import annotations

import argparse
import csv
import resource
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks import BENCH_DIR, REPO, TENANT


def _prepare(
    members: int, seed: int, reload: bool, dataset: Path | None = None
) -> tuple[str, Path]:
    from identity.config import Settings
    from identity.db import make_engine, make_session_factory, transaction, upgrade
    from identity.matching.policy import find_policy
    from identity.member.service import load_members
    from identity.policy import service as policy_service
    from identity.synthetic import write_dataset

    out = BENCH_DIR / f"dedupe-{members}-{seed}"
    out.mkdir(parents=True, exist_ok=True)
    db, marker = out / "dedupe.db", out / "ready"
    if reload or not marker.exists():
        for f in (db, marker):
            f.unlink(missing_ok=True)
        if dataset is None:
            paths = write_dataset(out, members=members, queries=10, seed=seed, formats=("ndjson",))
            source = paths.members_ndjson
        else:  # another benchmark's master of the same size and seed (generating 1M takes long)
            source = dataset / "members.ndjson"
            shutil.copy(dataset / "duplicates.csv", out / "duplicates.csv")
        url = f"sqlite:///{db}"
        upgrade(url)
        factory = make_session_factory(make_engine(Settings(database_url=url)))
        with transaction(factory) as session:
            assert load_members(session, TENANT, [source]).ok
            policy_service.activate(
                session, TENANT, find_policy(REPO / "matching_rules", "default")
            )
        marker.write_text("ok\n")
    return f"sqlite:///{db}", out / "duplicates.csv"


def _truth(path: Path) -> set[tuple[str, str]]:
    people: dict[str, set[str]] = {}
    with path.open() as f:
        for row in csv.DictReader(f):
            people.setdefault(row["member_id_a"], {row["member_id_a"]}).add(row["member_id_b"])
    return {(x, y) for g in people.values() for x in g for y in g if x < y}


def _run_in_child(url: str) -> dict[str, Any]:
    from identity.audit.actor import Actor
    from identity.config import Settings
    from identity.db import bind_tenant, make_engine, make_session_factory
    from identity.dedupe.service import DedupeOptions, find_duplicates
    from identity.policy import service as policy_service

    factory = make_session_factory(make_engine(Settings(database_url=url)))
    actor = Actor(tenant=TENANT, client_id=None, request_id=None, person="bench")
    start = time.perf_counter()
    with factory() as session:
        bind_tenant(session, TENANT)
        version = policy_service.active_policy_version(session, TENANT)
        assert version is not None
        policy = policy_service.stored_policy(session, version)
        options = DedupeOptions(policy.document.decision.review_probability)
        run = find_duplicates(session, actor, policy, options, now=datetime.now(UTC))
        session.flush()
        elapsed = time.perf_counter() - start
        session.rollback()  # written and timed, not kept: the run can be repeated
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "seconds": elapsed,
        "peak_gib": peak_kib / 1024 / 1024,
        "members": run.member_count,
        "pairs_scored": run.pairs_scored,
        "excluded": run.pairs_excluded,
        "clusters": len(run.clusters),
        "pairs": sorted({(p.a, p.b) for c in run.clusters for p in c.pairs}),
        "timings": {k: round(v, 1) for k, v in run.timings.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--reload", action="store_true")
    parser.add_argument(
        "--dataset",
        type=Path,
        help="A folder with members.ndjson and duplicates.csv to load instead of generating "
        "(e.g. var/bench/1000000-7/data, the load benchmark's)",
    )
    args = parser.parse_args()
    url, duplicates = _prepare(args.members, args.seed, args.reload, args.dataset)
    with ProcessPoolExecutor(max_workers=1) as pool:
        result = pool.submit(_run_in_child, url).result()
    truth = _truth(duplicates)
    found = {tuple(p) for p in result.pop("pairs")}
    hits = len(found & truth)
    precision = hits / len(found) if found else 0.0
    recall = hits / len(truth) if truth else 0.0
    print(
        "| members | time (s) | peak RSS (GiB) | pairs ≥ threshold | excluded by rules "
        "| clusters | true pairs | precision | recall | phases (s) |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    print(
        f"| {result['members']:,} | {result['seconds']:.1f} | {result['peak_gib']:.2f} "
        f"| {result['pairs_scored']:,} | {result['excluded']:,} | {result['clusters']:,} "
        f"| {len(truth):,} | {precision:.4f} | {recall:.4f} | {result['timings']} |"
    )


if __name__ == "__main__":
    main()
