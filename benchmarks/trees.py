"""What the benchmarks that compare source trees side by side share: the command line
(`--trees a,b --requests N --rounds R`), a child script run in each tree in turns (best of the
rounds kept), a tree's own `identity serve` on a database of its own, and the table of one row
per kind, one column per tree."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from benchmarks.http_bench import HOST, _free_port, _wait_ready
from benchmarks.machine import machine_block

# Every limit far above a benchmark's load: its cost is measured but it never refuses.
_UNLIMITED = (
    "RATE_LIMIT_CLIENT_PER_S",
    "RATE_LIMIT_CLIENT_BURST",
    "RATE_LIMIT_TENANT_PER_S",
    "RATE_LIMIT_TENANT_BURST",
    "SOURCE_RATE_PER_S",
    "SOURCE_BURST",
    "SOURCE_FAILURES_PER_S",
    "SOURCE_FAILURE_BURST",
)


def serve_tree(tree: Path, db: Path, work: Path) -> tuple[subprocess.Popen[bytes], str]:
    """`tree`'s own `identity serve` (PYTHONPATH=tree) on the SQLite file `db`, migrated first,
    with development tokens signed by `work`'s keys, in a process group of its own; (process,
    base URL) once it answers."""
    env = {
        **os.environ,
        "PYTHONPATH": str(tree),
        "IDENTITY_DATABASE_URL": f"sqlite:///{db}",
        "IDENTITY_DEFAULT_TENANT": "bench-payer",
        "IDENTITY_LOG_LEVEL": "WARNING",
        "IDENTITY_DEV_AUTH": "true",
        "IDENTITY_DEV_KEY_FILE": str(work / "dev-key.pem"),
        "IDENTITY_SIGNING_KEY_FILE": str(work / "signing-key.pem"),
        "IDENTITY_DATA_KEY_FILE": str(work / "data-key"),
        **{f"IDENTITY_{name}": "1000000" for name in _UNLIMITED},
    }
    upgrade = [sys.executable, "-m", "identity", "db", "upgrade"]
    subprocess.run(upgrade, env=env, cwd=tree, check=True, capture_output=True)
    port = _free_port()
    cmd = [sys.executable, "-m", "identity", "serve", "--host", HOST, "--port", str(port)]
    with (work / "serve.log").open("wb") as log:
        proc = subprocess.Popen(
            cmd, env=env, stdout=log, stderr=log, cwd=tree, start_new_session=True
        )
    base = f"http://{HOST}:{port}"
    _wait_ready(base, proc, work / "serve.log")
    return proc, base


def best_of_rounds(
    trees: Sequence[Path], rounds: int, child: str, args: Sequence[str]
) -> tuple[dict[tuple[Path, str], float], list[str]]:
    """Run `child` (Python source printing a JSON object of kind -> figure as its last line) in
    each tree, the trees taken in turns for `rounds` rounds: the lowest figure per (tree, kind),
    and the kinds in the order first seen."""
    best: dict[tuple[Path, str], float] = {}
    kinds: list[str] = []
    for _ in range(rounds):
        for tree in trees:
            env = {**os.environ, "PYTHONPATH": f"{tree}:{Path.cwd()}"}
            out = subprocess.run(
                [sys.executable, "-c", child, *args],
                env=env,
                cwd=tree,
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            for kind, figure in json.loads(out.splitlines()[-1]).items():
                kinds += [kind] if kind not in kinds else []
                best[(tree, kind)] = min(best.get((tree, kind), float("inf")), figure)
    return best, kinds


def table(
    title: str, row_name: str, trees: list[Path], rows: Iterable[tuple[str, list[str]]]
) -> str:
    """`title`, then a row per (kind, one cell per tree), then the machine it ran on."""
    lines = [
        title,
        "",
        f"| {row_name} | " + " | ".join(str(t) for t in trees) + " |",
        "| --- | " + " | ".join("---" for _ in trees) + " |",
    ]
    lines += [f"| {kind} | " + " | ".join(cells) + " |" for kind, cells in rows]
    return "\n".join([*lines, "", machine_block()])


def main(
    prog: str, run: Callable[[list[Path], int, int], str], *, requests: int, rounds: int
) -> None:
    """Parse the command line and print `run(trees, requests, rounds)`."""
    parser = argparse.ArgumentParser(prog=prog)
    parser.add_argument("--trees", required=True, help="comma-separated source trees")
    parser.add_argument("--requests", type=int, default=requests)
    parser.add_argument("--rounds", type=int, default=rounds)
    args = parser.parse_args()
    trees = [Path(t).resolve() for t in args.trees.split(",") if t]
    print(run(trees, args.requests, args.rounds))
