"""Building a decision's stored row (evidence, candidate summary, fingerprint) for one or more
source trees side by side: the part of `/v1/match` that turns a resolution into what is stored.

`python -m benchmarks.evidence_bench --trees ../base,.` makes a synthetic set (3,000 members,
seed 23), widens each valid query's blocked candidates to 37 (the mean at 1M members) and
resolves it with the default policy, in a subprocess per tree (PYTHONPATH=tree), rounds taken
in turns. It reports CPU µs per request, best round, for: the row as `match` builds it (the
stewards'-marks fingerprint, then `decision_fields`), its parts, orjson of the JSON columns
(what the database layer writes), a read's parse + render + serialise of the evidence, and the
stored evidence's size in bytes. Resolution itself is not timed.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks import trees as trees_bench

_CHILD = r"""
import inspect, json, sys, tempfile, time
from datetime import date
from pathlib import Path
import orjson
from identity.errors import InvalidInput
from identity.matching.blocking import blocking_keys
from identity.matching.engine import Candidate, Matcher
try:  # a tree from before the compact layout builds documents; one after it, compact rows
    from identity.matching.evidence import candidate_documents as candidate_evidence
    render = None
except ImportError:
    from identity.matching.evidence import compact_candidates as candidate_evidence
    from identity.matching.evidence_render import render_evidence as render
from identity.matching.policy import find_policy
from identity.matching.standardize import standardize
from identity.matching.steward import StewardMark
from identity.member.sources import read_ndjson
from identity.resolution import service
from identity.synthetic import write_dataset

today, wide, count = date(2026, 12, 7), 37, int(sys.argv[1])
policy = find_policy(Path("matching_rules"), "default")
paths = write_dataset(Path(tempfile.mkdtemp()), members=3000, queries=count, seed=23,
                      formats=("ndjson",))
keys = policy.document.blocking.keys
members, index = [], {}
for item in read_ndjson(paths.members_ndjson):
    record = standardize(item.raw, today=today)
    for key in blocking_keys(record, keys):
        index.setdefault(key, []).append(len(members))
    members.append((item.member_id, record))
found_by = []
for line in paths.queries_ndjson.read_text().splitlines():
    try:
        raw = service.parse_match_request(json.loads(line)["request"], today)
    except InvalidInput:
        continue
    query = standardize(raw, today=today)
    found = {}
    for key in blocking_keys(query, keys):
        for i in index.get(key, ()):
            found.setdefault(i, []).append(key.split(":", 1)[0])
    found_by.append((query, found))
matcher = Matcher(policy)
requests = []
for q, (query, found) in enumerate(found_by):
    picked, j = dict(found), q + 1
    while len(picked) < wide and j < q + 60:
        for i in found_by[j % len(found_by)][1]:
            picked.setdefault(i, [])
        j += 1
    candidates = []
    for n, (i, matched) in enumerate(sorted(picked.items())[:wide]):
        member_id, record = members[i]
        mark = StewardMark(("link", "keep_apart")[i % 2], f"r-{i}") if (i + n) % 29 == 3 else None
        candidates.append(Candidate(i, member_id, record, tuple(matched), steward=mark))
    requests.append((query, matcher.resolve(query, tuple(candidates))))
timings = {"standardize": 0.1, "candidates": 1.0, "decide": 0.5}
rows = [service.decision_fields("t", q, r, "v", timings) for q, r in requests]

# A tree from before decision_fields took the request's fingerprint computes it there again.
handed = "input_fingerprint" in inspect.signature(service.decision_fields).parameters

def row(q, r):
    asked = service.fingerprint(q)  # a request's, for the stewards' marks, then its row
    if handed:
        service.decision_fields("t", q, r, "v", timings, asked)
    else:
        service.decision_fields("t", q, r, "v", timings)

parts = {
    "row (fingerprint + decision_fields)": row,
    "candidate evidence (documents, or compact)": lambda q, r: candidate_evidence(r),
    "candidate summary": lambda q, r: service._candidate_summary(r),
}
out = {}
for name, fn in parts.items():
    t0 = time.process_time()
    for q, r in requests:
        fn(q, r)
    out[name] = (time.process_time() - t0) / len(requests) * 1e6
t0 = time.process_time()
for f in rows:
    orjson.dumps(f["evidence"]), orjson.dumps(f["candidates"])
out["JSON columns serialised (orjson)"] = (time.process_time() - t0) / len(rows) * 1e6
# A read of GET /v1/matches/{id}: the stored column parsed, rendered (full documents are shown
# as stored) and serialised again.
stored = [orjson.dumps(f["evidence"]) for f in rows]
t0 = time.process_time()
for b in stored:
    doc = orjson.loads(b)
    orjson.dumps(doc if render is None else render(doc))
out["read: parse + render + serialise evidence"] = (time.process_time() - t0) / len(rows) * 1e6
# The same read of a row PostgreSQL returns: JSONB keeps every object's keys sorted (shorter
# first, then bytewise), and the renderer puts the candidates it builds in that order too.
def jsonb(value):
    if isinstance(value, dict):
        return {k: jsonb(value[k]) for k in sorted(value, key=lambda k: (len(k.encode()), k))}
    return [jsonb(v) for v in value] if isinstance(value, list) else value

stored_pg = [orjson.dumps(jsonb(f["evidence"])) for f in rows]
t0 = time.process_time()
for b in stored_pg:
    doc = orjson.loads(b)
    orjson.dumps(doc if render is None else render(doc))
out["read, PostgreSQL's key order: parse + render + serialise"] = (
    (time.process_time() - t0) / len(rows) * 1e6
)
out["stored evidence bytes, mean"] = sum(map(len, stored)) / len(stored)
out["stored evidence bytes, max"] = max(map(len, stored))
out["candidates per request"] = sum(len(r.candidates) for _, r in requests) / len(requests)
print(json.dumps(out))
"""


def run(trees: list[Path], count: int, rounds: int) -> str:
    best, kinds = trees_bench.best_of_rounds(trees, rounds, _CHILD, [str(count)])
    title = (
        f"Building a decision's stored row, CPU µs per request ({count:,} synthetic queries, "
        f"best of {rounds} rounds taken in turns):"
    )
    rows = [(kind, [f"{best[(t, kind)]:.1f}" for t in trees]) for kind in kinds]
    return trees_bench.table(title, "part", trees, rows)


def main() -> None:
    trees_bench.main("python -m benchmarks.evidence_bench", run, requests=400, rounds=3)


if __name__ == "__main__":
    main()
