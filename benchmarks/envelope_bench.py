"""The request envelope's server CPU: `/healthz`, an authenticated one-row `GET /v1/review-items`
and a refused 401, against `identity serve` on loopback, for one or more source trees side by side.

`python -m benchmarks.envelope_bench --trees ../base,.` runs each tree's own
`identity serve` (PYTHONPATH=tree) on a copy of the 10,000-member benchmark database (made by
`python -m benchmarks load --members 10000 --db sqlite` when missing), sends a few `/v1/match`
requests so the review queue holds items, then each kind of request one at a time and reports the
server process's CPU per request (user + system, from /proc). Trees are measured in turns, so a
busy machine weighs on each alike.
"""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

import httpx
import orjson

from benchmarks import trees as trees_bench
from benchmarks.http_bench import auth_headers
from benchmarks.load_bench import dataset, sqlite_path
from benchmarks.machine import tree_cpu_seconds

KINDS = {
    "healthz": ("GET", "/healthz", False),
    "review-items (1 row)": ("GET", "/v1/review-items?limit=1", True),
    "401 (no token)": ("GET", "/v1/review-items?limit=1", None),
}


def _measure(
    base: str, pid: int, headers: dict[str, str], kind: str, count: int
) -> tuple[float, dict[int, int]]:
    method, path, authenticated = KINDS[kind]
    sent = headers if authenticated else {}
    statuses: dict[int, int] = {}
    with httpx.Client(base_url=base, timeout=30) as http:
        for _ in range(50):
            http.request(method, path, headers=sent)
        cpu0 = tree_cpu_seconds(pid)
        for _ in range(count):
            status = http.request(method, path, headers=sent).status_code
            statuses[status] = statuses.get(status, 0) + 1
        return (tree_cpu_seconds(pid) - cpu0) / count * 1000, statuses


def run(trees: list[Path], count: int, rounds: int) -> str:
    source = sqlite_path(10_000, 7)
    if not source.exists():
        raise SystemExit("run `python -m benchmarks load --members 10000 --db sqlite` first")
    bodies = dataset(10_000, 7, 10_000).queries_file.read_bytes().splitlines()[:60]
    results: dict[tuple[Path, str], list[float]] = {}
    statuses: dict[tuple[Path, str], dict[int, int]] = {}
    for _ in range(rounds):
        for tree in trees:
            work = Path(tempfile.mkdtemp(prefix="identity-envelope-"))
            db = work / "bench.db"
            with sqlite3.connect(source) as src, sqlite3.connect(db) as dst:
                src.backup(dst)
            proc, base = trees_bench.serve_tree(tree, db, work)
            try:
                headers = auth_headers(work / "dev-key.pem")
                with httpx.Client(base_url=base, timeout=30) as http:
                    for line in bodies:
                        body = orjson.dumps(orjson.loads(line)["request"])
                        http.post("/v1/match", content=body, headers=headers)
                for kind in KINDS:
                    ms, seen = _measure(base, proc.pid, headers, kind, count)
                    results.setdefault((tree, kind), []).append(ms)
                    statuses[(tree, kind)] = seen
            finally:
                proc.terminate()
                proc.wait(timeout=30)
    title = (
        f"Server CPU per request (ms; `identity serve`, one worker, SQLite 10,000 members, "
        f"{count} requests one at a time per kind, best of {rounds} rounds taken in turns):"
    )
    rows = [
        (kind, [f"{min(results[(t, kind)]):.2f} {statuses[(t, kind)]}" for t in trees])
        for kind in KINDS
    ]
    return trees_bench.table(title, "request", trees, rows)


def main() -> None:
    trees_bench.main("python -m benchmarks.envelope_bench", run, requests=1000, rounds=2)


if __name__ == "__main__":
    main()
