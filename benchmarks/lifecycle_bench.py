"""Member lifecycle load rates: a first load, a snapshot that leaves 5% out (they are terminated),
the same snapshot again (nothing changes), and a delta marking another 5% as leavers.

    python -m benchmarks.lifecycle_bench --members 100000 [--seed 7] [--db sqlite|postgresql]

Reuses the synthetic dataset of `python -m benchmarks load` (var/bench/<members>-<seed>/);
prints a markdown table for benchmarks/RESULTS.md. Each step is one `load_members` transaction
in this process, timed from the first byte read to the commit.
"""

from __future__ import annotations

import argparse
import time
from datetime import date
from pathlib import Path

import orjson

from benchmarks import TENANT
from benchmarks.load_bench import bench_dir, dataset
from benchmarks.machine import markdown_table
from identity.config import Settings
from identity.db import make_engine, make_session_factory, upgrade
from identity.member.service import LoadMode, load_members


def _split(members_file: Path, out: Path) -> tuple[Path, Path, int]:
    """A snapshot without every 20th member, and a delta marking another 20th inactive."""
    snapshot, delta = out / "snapshot.ndjson", out / "delta.ndjson"
    dropped: set[str] = set()
    n = 0
    with members_file.open("rb") as src, snapshot.open("wb") as snap, delta.open("wb") as leave:
        lines = src.readlines()
        for line in lines:
            obj = orjson.loads(line)
            if obj.get("resourceType") == "Patient":
                n += 1
                if n % 20 == 0:
                    dropped.add(obj["id"])
                    continue
                if n % 20 == 1:
                    leave.write(orjson.dumps({**obj, "active": False}) + b"\n")
        for line in lines:
            obj = orjson.loads(line)
            ref = (obj.get("beneficiary") or {}).get("reference", "")
            pid = obj.get("id") if obj.get("resourceType") == "Patient" else ref.split("/")[-1]
            if pid not in dropped:
                snap.write(line)
    return snapshot, delta, len(dropped)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()
    data = dataset(args.members, args.seed, 10)
    root = bench_dir(args.members, args.seed)
    snapshot, delta, dropped = _split(data.members_file, root)
    if args.db == "sqlite":
        db = root / "lifecycle.db"
        for f in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
            f.unlink(missing_ok=True)
        url = f"sqlite:///{db}"
        steps = _steps(url, data.members_file, snapshot, delta)
    else:
        from benchmarks.postgres import postgres_server

        with postgres_server(root / "postgresql-lifecycle") as server:
            url = server.fresh_database("lifecycle")
            steps = _steps(url, data.members_file, snapshot, delta)
    header = ["step", "mode", "records read", "s", "records/s", "ins / upd / same", "ended"]
    print(f"### Member lifecycle loads, {args.members:,} members, {args.db} ({dropped:,} left out)")
    print(markdown_table(header, steps))


def _steps(url: str, first: Path, snapshot: Path, delta: Path) -> list[list[str]]:
    upgrade(url)
    engine = make_engine(Settings(database_url=url, default_tenant=TENANT))
    factory = make_session_factory(engine)
    rows: list[list[str]] = []
    plan = [
        ("first load", LoadMode.DELTA, first),
        ("snapshot without 5%", LoadMode.SNAPSHOT, snapshot),
        ("same snapshot again", LoadMode.SNAPSHOT, snapshot),
        ("delta: 5% leave", LoadMode.DELTA, delta),
    ]
    for name, mode, path in plan:
        session = factory()
        started = time.perf_counter()
        report = load_members(session, TENANT, [path], mode=mode, as_of=date.today())
        assert report.ok, report.errors[:3]
        session.commit()
        session.close()
        s = time.perf_counter() - started
        c = report.counts
        ended = report.terminated + report.inactive
        rows.append(
            [
                name,
                mode.value,
                f"{report.read:,}",
                f"{s:.1f}",
                f"{report.read / s:,.0f}",
                f"{c.inserted:,} / {c.updated:,} / {c.unchanged:,}",
                f"{ended:,}",
            ]
        )
        print(rows[-1], flush=True)
    engine.dispose()
    return rows


if __name__ == "__main__":
    main()
