"""What the benchmarks that compare source trees side by side share: the command line
(`--trees a,b --requests N --rounds R`) and the table of one row per kind, one column per tree."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable
from pathlib import Path

from benchmarks.machine import machine_block


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
