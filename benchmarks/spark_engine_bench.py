"""`train --engine spark` against DuckDB: the same training on the same small master, both engines.

    python -m benchmarks.spark_engine_bench --members 1000 --queries 300

Every pair of members is counted for u and every blocked pair runs EM (no sampling, no early
stop), so both engines see the same pairs and differences are arithmetic only. Spark runs on
`local[2]` in this process; its first run pays for starting the JVM (shown apart).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from datetime import date
from pathlib import Path

import orjson

from identity.matching.policy import find_policy
from identity.matching.standardize import standardize
from identity.member.sources import SourceError, read_source
from identity.resolution.service import parse_match_request
from identity.synthetic import write_dataset
from identity.training.data import Incoming
from identity.training.engines import SplinkEngine, spark_session
from identity.training.estimates import Estimates
from identity.training.service import train_sides
from identity.training.train import TrainOptions

TODAY = date(2026, 11, 22)
ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--spark-master", default="local[2]")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="spark-bench-"))
    data = write_dataset(
        tmp, members=args.members, queries=args.queries, seed=7, formats=("ndjson",)
    )
    master = [
        (item.member_id, standardize(item.raw, today=TODAY))
        for item in read_source(data.members_ndjson)
        if not isinstance(item, SourceError)
    ]
    with data.queries_ndjson.open("rb") as fh:
        bodies = [orjson.loads(line)["request"] for line in fh]
    incoming = Incoming(
        "extract",
        [
            (f"q{i}", standardize(parse_match_request(b, TODAY), today=TODAY))
            for i, b in enumerate(bodies)
        ],
    )
    rules = tmp / "rules"
    rules.mkdir()
    shutil.copy(ROOT / "matching_rules" / "default.yaml", rules / "default.yaml")
    source = find_policy(rules, "default")
    every = args.members * args.members
    engines = [SplinkEngine("duckdb"), SplinkEngine("spark", spark_master=args.spark_master)]
    start = time.perf_counter()
    spark_session(engines[1])
    jvm = time.perf_counter() - start
    results: dict[str, tuple[float, Estimates]] = {}
    for engine in engines:
        options = TrainOptions(max_pairs=every, em_max_pairs=every, u_min_count=None, engine=engine)
        start = time.perf_counter()
        run = train_sides(
            "bench",
            source,
            incoming,
            iter(master),
            len(master),
            rules_dir=rules,
            options=options,
            label=f"bench-{engine.name}",
        )
        results[engine.name] = (time.perf_counter() - start, run.estimates)
    duck, spark = results["duckdb"][1], results["spark"][1]
    print(f"{args.members:,} members, {args.queries:,} requests; Spark session start {jvm:.1f} s\n")
    print("| engine | train s | u s | prior s | EM s | prior | EM iterations |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, (seconds, est) in results.items():
        t = est.timings
        em = sum(v for k, v in t.items() if k.startswith("em "))
        its = "/".join(str(r.iterations) for r in est.em_runs)
        print(
            f"| {name} | {seconds:.1f} | {t['u']:.1f} | {t['prior']:.1f} | {em:.1f} "
            f"| {est.prior:.6g} | {its} |"
        )
    same = [(b.m_trained, b.u_trained) for b in spark.levels]
    dm = max(abs(a.m - b.m) for a, b in zip(duck.levels, spark.levels, strict=True))
    du = max(abs(a.u - b.u) / a.u for a, b in zip(duck.levels, spark.levels, strict=True))
    print(
        f"\nlargest |m difference| {dm:.3g}; largest relative u difference {du:.3g}; "
        f"prior difference {abs(duck.prior - spark.prior):.3g}; "
        f"levels {len(duck.levels)}, trained the same: "
        f"{[(a.m_trained, a.u_trained) for a in duck.levels] == same}"
    )


if __name__ == "__main__":
    main()
