"""Request parsing's CPU: `/v1/match` bodies through `parse_match_request` and `$member-match`
bodies through `parse_member_match`, for one or more source trees side by side.

`python -m benchmarks.parse_bench --trees ../base,.` parses the first N queries of the
10,000-member benchmark's query set (JSON already decoded, as the body guard hands it over) in a
subprocess per tree (PYTHONPATH=tree), rounds taken in turns, and reports CPU µs per body, best
round. What is timed is the parse only: FHIR validation, limits, required elements, extraction.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks import trees as trees_bench
from benchmarks.load_bench import dataset

_CHILD = r"""
import json, sys, time
from datetime import UTC, datetime
import orjson
from identity.fhir.member_match import parse_member_match
from identity.resolution.service import parse_match_request
from benchmarks.member_match_bench import REQUESTER, member_match_bodies
path, count = sys.argv[1], int(sys.argv[2])
today = datetime.now(UTC).date()
lines = open(path, "rb").read().splitlines()[:count]
match = [orjson.loads(line)["request"] for line in lines]
from pathlib import Path
mm = [orjson.loads(b) for b in member_match_bodies(Path(path), REQUESTER, today).bodies[:count]]
def timed(parse, bodies):
    for body in bodies[:100]:
        parse(body, today)
    t0 = time.process_time()
    for body in bodies:
        parse(body, today)
    return (time.process_time() - t0) / len(bodies) * 1e6
def member_match(body, today):
    request, errors = parse_member_match(body, today)
    assert request is not None, errors
print(json.dumps({"match": timed(parse_match_request, match),
                  "member-match": timed(member_match, mm)}))
"""


def run(trees: list[Path], count: int, rounds: int) -> str:
    queries = dataset(10_000, 7, 10_000).queries_file
    best, _ = trees_bench.best_of_rounds(trees, rounds, _CHILD, [str(queries), str(count)])
    title = (
        f"Parse CPU per body (µs; first {count:,} queries of the 10,000-member set, "
        f"best of {rounds} rounds taken in turns):"
    )
    rows = [(kind, [f"{best[(t, kind)]:.1f}" for t in trees]) for kind in ("match", "member-match")]
    return trees_bench.table(title, "body", trees, rows)


def main() -> None:
    trees_bench.main("python -m benchmarks.parse_bench", run, requests=3000, rounds=3)


if __name__ == "__main__":
    main()
