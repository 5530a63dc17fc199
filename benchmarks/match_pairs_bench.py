"""`/v1/match`'s server CPU for two or more source trees, measured in interleaved pairs.

`python -m benchmarks.match_pairs_bench --trees ../base,. --concurrency 1 --requests 300
--rounds 10` starts each tree's own `identity serve` (PYTHONPATH=tree) on its own copy of the
100,000-member benchmark database (`python -m benchmarks http --members 100000 --db sqlite`
builds it), warms each past its member store's build, then sends a block of `requests` at the
given concurrency to each tree in turn, the order alternating by round. On a machine others use,
a change smaller than the load's swings between two runs still shows in the pairs: the table
gives each tree's median server CPU per request (process tree, /proc) and requests a second,
and the median of the paired differences against the first tree with the rounds it won.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sqlite3
import statistics
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx

from benchmarks.http_bench import auth_headers, request_bodies
from benchmarks.load_bench import dataset, sqlite_path
from benchmarks.machine import machine_block, tree_cpu_seconds
from benchmarks.trees import serve_tree

MEMBERS = 100_000
WARMUP = 600


@dataclass
class _Served:
    tree: Path
    proc: subprocess.Popen[bytes]
    clients: list[httpx.Client]
    cpu_ms: list[float]
    per_s: list[float]


def _serve(tree: Path, work: Path, concurrency: int) -> _Served:
    db = work / "bench.db"
    with sqlite3.connect(sqlite_path(MEMBERS, 7)) as src, sqlite3.connect(db) as dst:
        src.backup(dst)
    proc, base = serve_tree(tree, db, work)
    headers = auth_headers(work / "dev-key.pem")
    clients = [httpx.Client(base_url=base, timeout=60, headers=headers) for _ in range(concurrency)]
    return _Served(tree, proc, clients, [], [])


def _block(served: _Served, bodies: list[bytes], start: int, count: int) -> int:
    """`count` requests over the tree's clients at once; how many were not answered 200."""
    clients = served.clients

    def one(lane: int) -> int:
        refused = 0
        for j in range(lane, count, len(clients)):
            body = bodies[(start + j) % len(bodies)]
            refused += clients[lane].post("/v1/match", content=body).status_code != 200
        return refused

    with ThreadPoolExecutor(len(clients)) as pool:
        return sum(pool.map(one, range(len(clients))))


def run(trees: list[Path], requests: int, rounds: int, concurrency: int) -> str:
    if not sqlite_path(MEMBERS, 7).exists():
        raise SystemExit("run `python -m benchmarks http --members 100000 --db sqlite` first")
    bodies = request_bodies(dataset(MEMBERS, 7, 10_000).queries_file)
    works = [Path(tempfile.mkdtemp(prefix="identity-pairs-")) for _ in trees]
    served: list[_Served] = []
    refused = 0
    try:
        served = [_serve(tree, work, concurrency) for tree, work in zip(trees, works, strict=True)]
        for each in served:  # the member store builds in the background: warm up past it
            _block(each, bodies, 0, WARMUP // 2)
        time.sleep(12)
        for each in served:
            _block(each, bodies, WARMUP // 2, WARMUP // 2)
        start = WARMUP
        for r in range(rounds):
            for each in served if r % 2 == 0 else served[::-1]:
                cpu0, wall0 = tree_cpu_seconds(each.proc.pid), time.perf_counter()
                refused += _block(each, bodies, start, requests)
                each.per_s.append(requests / (time.perf_counter() - wall0))
                each.cpu_ms.append((tree_cpu_seconds(each.proc.pid) - cpu0) / requests * 1000)
            start += requests
    finally:
        for each in served:
            os.killpg(each.proc.pid, signal.SIGTERM)
            each.proc.wait(timeout=30)
        for work in works:
            shutil.rmtree(work, ignore_errors=True)
    first = served[0].cpu_ms
    rows = []
    for each in served:
        cells = [
            f"{statistics.median(each.cpu_ms):.2f}",
            f"{statistics.median(each.per_s):.0f}",
        ]
        if each is not served[0]:
            diffs = [b - a for a, b in zip(first, each.cpu_ms, strict=True)]
            lower = sum(d < 0 for d in diffs)
            cells.append(f"{statistics.median(diffs):+.2f} ms, lower in {lower}/{rounds}")
        else:
            cells.append("-")
        rows.append((str(each.tree), cells))
    title = (
        f"`/v1/match` over HTTP, `identity serve` per tree, SQLite {MEMBERS:,} members, "
        f"concurrency {concurrency}, {rounds} rounds of {requests} requests per tree in turns "
        f"(answers not 200: {refused}):"
    )
    lines = [
        title,
        "",
        "| tree | server CPU ms / request (median) | req/s (median) | paired vs first |",
        "| --- | --- | --- | --- |",
        *(f"| {tree} | " + " | ".join(cells) + " |" for tree, cells in rows),
    ]
    return "\n".join([*lines, "", machine_block()])


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.match_pairs_bench")
    parser.add_argument("--trees", required=True, help="comma-separated source trees")
    parser.add_argument("--requests", type=int, default=300, help="requests per block")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=1)
    args = parser.parse_args()
    trees = [Path(t).resolve() for t in args.trees.split(",") if t]
    print(run(trees, args.requests, args.rounds, args.concurrency))


if __name__ == "__main__":
    main()
