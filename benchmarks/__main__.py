"""`python -m benchmarks <command>` (or `./dev bench <command>`): see benchmarks/README.md."""

from __future__ import annotations

import argparse


def _ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def _dbs(text: str) -> list[str]:
    return ["sqlite", "postgresql"] if text == "both" else [text]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Speed benchmarks for identity. Each command prints Markdown tables and a "
        "machine block for benchmarks/RESULTS.md. Data and databases are kept in var/bench/.",
    )
    sub = p.add_subparsers(dest="command", required=True)

    def common(cmd: argparse.ArgumentParser, members: int) -> None:
        cmd.add_argument("--members", type=int, default=members, help="synthetic members")
        cmd.add_argument("--seed", type=int, default=7, help="generator seed")
        cmd.add_argument(
            "--queries", type=int, default=10_000, help="queries generated with the dataset"
        )

    load = sub.add_parser(
        "load",
        help="member load speed: first load and unchanged reload, database size",
        description="Generate (or reuse) var/bench/<members>-<seed>/, load it into a fresh, "
        "migrated database of each kind, then load the same file again (nothing changes).",
    )
    common(load, 100_000)
    load.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    load.add_argument("--format", choices=["ndjson", "csv"], default="ndjson", help="input file")
    load.add_argument(
        "--analyze-early",
        action="store_true",
        help="PostgreSQL: ANALYZE member inside the load after its first batch (a benchmark-only "
        "workaround for the existing-member lookup's plan on an unanalysed table; see README)",
    )
    load.add_argument(
        "--time-limit",
        type=float,
        default=0,
        help="stop a load after this many seconds and report how far it got (0: no limit)",
    )

    http = sub.add_parser(
        "http",
        help="POST /v1/match latency and throughput against `identity serve` on 127.0.0.1",
        description="Prepare (or reuse) a loaded database with the default policy, start "
        "`identity serve`, warm up, then replay the query set at each concurrency level.",
    )
    common(http, 1_000_000)
    http.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="sqlite")
    http.add_argument("--concurrency", type=_ints, default=[8, 32], help="e.g. 8,32")
    http.add_argument("--workers", type=_ints, default=[1], help="server workers, e.g. 1 or 1,2")
    http.add_argument("--requests", type=int, default=5_000, help="at most, per level")
    http.add_argument("--duration", type=float, default=60.0, help="seconds at most, per level")
    http.add_argument("--warmup", type=int, default=300, help="requests before measuring")

    bulk = sub.add_parser(
        "bulk",
        help="POST /fhir/Group/$bulk-member-match end to end (kick-off to done), SQLite",
        description="Prepare (or reuse) a loaded SQLite database with the default policy, copy "
        "it, start `identity serve` on the copy, send one request of N members from the query "
        "set and poll it to completion.",
    )
    common(bulk, 100_000)
    bulk.add_argument(
        "--bulk", type=_ints, default=[10_000], help="members per request, e.g. 10000"
    )
    bulk.add_argument("--batch", type=_ints, default=[100], help="worker batch sizes, e.g. 50,100")
    bulk.add_argument("--repeat", type=int, default=1, help="runs per (members, batch)")

    mm = sub.add_parser(
        "member-match",
        help="POST /fhir/Patient/$member-match latency and throughput against `identity serve`",
        description="Like `http`, with HRex $member-match Parameters built from the query set "
        "(the query's Patient and Coverage, a consent valid today naming the benchmark client's "
        "organisation); queries without a card id are skipped.",
    )
    common(mm, 1_000_000)
    mm.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="sqlite")
    mm.add_argument("--concurrency", type=_ints, default=[8, 32], help="e.g. 8,32")
    mm.add_argument("--workers", type=_ints, default=[1], help="server workers, e.g. 1 or 1,2")
    mm.add_argument("--requests", type=int, default=3_000, help="at most, per level")
    mm.add_argument("--duration", type=float, default=60.0, help="seconds at most, per level")
    mm.add_argument("--warmup", type=int, default=300, help="requests before measuring")
    mm.add_argument(
        "--profile",
        type=int,
        default=None,
        metavar="CONCURRENCY",
        help="sample the server with py-spy (pip install py-spy) during this concurrency level "
        "and print where its time goes",
    )
    mm.add_argument(
        "--profile-gil",
        action="store_true",
        help="with --profile: sample only the thread holding the GIL (Python's CPU, without "
        "threads waiting for SQLite's write lock)",
    )

    prof = sub.add_parser(
        "profile",
        help="one endpoint's requests one at a time in-process: CPU per request, statements, "
        "and where the time goes (py-spy)",
        description="The real app through Starlette's TestClient on the loaded benchmark database "
        "(a copy, for SQLite): CPU ms per request, SQL statements and pool checkouts per request, "
        "py-spy's tables.",
    )
    common(prof, 100_000)
    prof.add_argument("--endpoint", choices=["match", "member-match"], default="match")
    prof.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    prof.add_argument("--requests", type=int, default=500, help="measured requests")
    prof.add_argument("--warmup", type=int, default=100, help="requests before measuring")
    prof.add_argument("--no-spy", action="store_true", help="count only, without py-spy")
    prof.add_argument(
        "--gil", action="store_true", help="sample only the thread holding the GIL (py-spy --gil)"
    )
    pages = sub.add_parser(
        "review-pages",
        help="server time of the workbench's queue (10,000 open items) and 50-candidate item page",
        description="A fresh SQLite database under var/bench/review-pages/; the app under uvicorn "
        "on loopback; one signed-in person asking one page at a time.",
    )
    pages.add_argument("--requests", type=int, default=200, help="measured requests per page")
    return p


def main() -> None:
    args = parser().parse_args()
    if args.command == "load":
        from benchmarks import load_bench

        report = load_bench.run(
            args.members,
            args.seed,
            args.queries,
            _dbs(args.db),
            args.format,
            analyze_early=args.analyze_early,
            limit_s=args.time_limit,
        )
    elif args.command == "profile":
        from benchmarks import profile_request

        report = profile_request.run(
            args.members,
            args.seed,
            args.queries,
            args.endpoint,
            args.requests,
            args.warmup,
            spy=not args.no_spy,
            gil=args.gil,
            db=args.db,
        )
    elif args.command == "bulk":
        from benchmarks import bulk_bench

        report = bulk_bench.run(
            args.members, args.seed, args.queries, args.bulk, args.batch, args.repeat
        )
    elif args.command == "member-match":
        from benchmarks import member_match_bench

        report = member_match_bench.run(
            args.members,
            args.seed,
            args.queries,
            _dbs(args.db),
            args.workers,
            args.concurrency,
            args.requests,
            args.duration,
            args.warmup,
            profile=args.profile,
            gil=args.profile_gil,
        )
    elif args.command == "review-pages":
        from benchmarks import review_pages

        report = review_pages.run(args.requests)
    else:
        from benchmarks import http_bench

        report = http_bench.run(
            args.members,
            args.seed,
            args.queries,
            _dbs(args.db),
            args.workers,
            args.concurrency,
            args.requests,
            args.duration,
            args.warmup,
        )
    print()
    print(report)


if __name__ == "__main__":
    main()
