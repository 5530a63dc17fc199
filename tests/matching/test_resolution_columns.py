"""The matcher decides all of a request's candidates at once, as columns; these tests hold each
column-wise step equal to the per-pair definition it replaces, on a synthetic master and its
queries (candidates found by the default policy's blocking keys, as the service finds them):

- the comparison levels of a candidate set equal each candidate's levels computed alone, and
  string measures pair by pair (small sets) equal one vectorised `cdist` (large ones);
- each predicate's column form equals its pair test, and the rule verdicts (each distinct
  predicate tested once per candidate, a rule's first down the whole set) equal `Rule.fires`;
- the evidence as stored (compact, `evidence_render.LAYOUT`) renders, byte for byte in JSON,
  the documents the verdicts render (`CandidateVerdict.evidence()`, `PairScore.as_dict()`),
  including guards, stewards' decisions and term-frequency adjustments, and its candidate side
  of each comparison is what the comparison shows;
- `record_as_dict`, spelled out field by field, equals the walk over the dataclass fields, and
  `with_given_canonicals` equals `dataclasses.replace`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields, replace
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from rapidfuzz import process
from rapidfuzz.distance import Hamming, JaroWinkler

from identity.errors import InvalidInput
from identity.matching.blocking import blocking_keys
from identity.matching.comparison_columns import CDIST_FROM, TEXT_COLUMNS, measure
from identity.matching.comparisons import COMPARISONS, ComparisonPlan
from identity.matching.engine import Candidate, Matcher, Resolution, rules_view
from identity.matching.evidence import compact_candidates
from identity.matching.evidence_render import (
    _RIGHT_V1,
    LAYOUT,
    candidate_facts,
    render_evidence,
)
from identity.matching.policy import Policy, TermFrequencies, find_policy
from identity.matching.record import (
    StandardRecord,
    record_as_dict,
    record_from_dict,
    with_given_canonicals,
)
from identity.matching.rules import COLUMNS, DEFAULT_SETTINGS, RulePredicate
from identity.matching.standardize import standardize
from identity.matching.steward import StewardMark
from identity.member.sources import SourceRecord, read_ndjson
from identity.resolution.service import decision_fields, parse_match_request
from identity.synthetic import write_dataset

REPO = Path(__file__).resolve().parents[2]
TODAY = date(2026, 12, 7)
WIDE = 27


@dataclass(frozen=True)
class Request:
    query: StandardRecord
    candidates: tuple[Candidate, ...]


@pytest.fixture(scope="module")
def policy() -> Policy:
    return find_policy(REPO / "matching_rules", "default")


@pytest.fixture(scope="module")
def requests(tmp_path_factory: pytest.TempPathFactory, policy: Policy) -> list[Request]:
    """Every valid query of a synthetic set with the members its blocking keys find. One
    candidate in seven carries a steward's mark (link or keep apart), so that stage's evidence
    is built too."""
    folder = tmp_path_factory.mktemp("columns")
    paths = write_dataset(folder, members=1500, queries=400, seed=23, formats=("ndjson",))
    keys = policy.document.blocking.keys
    members: list[tuple[str, StandardRecord]] = []
    index: dict[str, list[int]] = {}
    for item in read_ndjson(paths.members_ndjson):
        assert isinstance(item, SourceRecord)
        record = standardize(item.raw, today=TODAY)
        for key in blocking_keys(record, keys):
            index.setdefault(key, []).append(len(members))
        members.append((item.member_id, record))
    found_by: list[tuple[StandardRecord, dict[int, list[str]]]] = []
    for line in paths.queries_ndjson.read_text().splitlines():
        try:
            raw = parse_match_request(json.loads(line)["request"], TODAY)
        except InvalidInput:  # the set holds invalid requests on purpose
            continue
        query = standardize(raw, today=TODAY)
        found: dict[int, list[str]] = {}
        for key in blocking_keys(query, keys):
            for i in index.get(key, ()):
                found.setdefault(i, []).append(key.split(":", 1)[0])
        found_by.append((query, found))
    out = []
    for q, (query, found) in enumerate(found_by):
        # A small master gives a few candidates a query; at a million members there are tens.
        # Every other query's set is widened with the next queries' candidates to that size.
        picked = dict(found)
        j = q + 1
        while q % 2 and len(picked) < WIDE and j < q + 40:
            for i in found_by[j % len(found_by)][1]:
                picked.setdefault(i, [])
            j += 1
        candidates = []
        for n, (i, matched) in enumerate(sorted(picked.items())[:WIDE]):
            member_id, record = members[i]
            mark = None
            if (i + n) % 7 == 3:
                mark = StewardMark(("link", "keep_apart")[i % 2], f"r-{i}")
            candidates.append(Candidate(i, member_id, record, tuple(matched), steward=mark))
        out.append(Request(query, tuple(candidates)))
    assert sum(len(r.candidates) >= WIDE for r in out) > 100
    return out


@pytest.fixture(scope="module")
def resolved(policy: Policy, requests: list[Request]) -> list[Resolution]:
    matcher = Matcher(policy)
    return [matcher.resolve(r.query, r.candidates) for r in requests]


def test_levels_of_a_candidate_set_equal_each_candidate_alone(
    policy: Policy, requests: list[Request]
) -> None:
    plan = ComparisonPlan(policy.document.comparisons)
    for r in requests:
        records = [c.record for c in r.candidates]
        together = plan.vectors(r.query, records).tolist()
        alone = [plan.vectors(r.query, [record])[0].tolist() for record in records]
        assert together == alone


@pytest.mark.parametrize("column", ["given", "family", "birth_date", "ssn", "address_line"])
def test_string_measures_pair_by_pair_equal_one_vectorised_call(
    column: str, requests: list[Request]
) -> None:
    """Small candidate sets are measured one pair at a time, large ones in one `cdist`: the
    two give the same Jaro-Winkler similarities and Hamming counts."""
    get = TEXT_COLUMNS[column]
    compared = 0
    for r in requests:
        q = get(r.query) or None
        if q is None:
            continue
        texts = [get(c.record) or None for c in r.candidates]
        for scorer, dtype in ((JaroWinkler.similarity, np.float64), (Hamming.distance, np.int32)):
            vectorised = process.cdist([q], [t or "" for t in texts], scorer=scorer, dtype=dtype)[
                0
            ].tolist()
            assert (
                measure(scorer, dtype, q, texts[: CDIST_FROM - 1]) == vectorised[: CDIST_FROM - 1]
            )
            assert measure(scorer, dtype, q, texts) == vectorised
        compared += len(texts)
    assert compared > 1000


def test_rule_verdicts_equal_each_rule_fired_on_its_own(
    policy: Policy, requests: list[Request]
) -> None:
    matcher = Matcher(policy)
    fired_somewhere = set()
    for r in requests:
        judged = rules_view(r.query, r.candidates)
        records = [c.record for c in r.candidates]
        rows = matcher.ruleset.fired(judged, records)
        expected = [tuple(rule.fires(judged, c) for rule in matcher.rules) for c in records]
        assert rows == expected
        fired_somewhere |= {i for row in rows for i, f in enumerate(row) if f}
    assert len(fired_somewhere) >= 4  # negative and positive rules both exercised


@pytest.mark.parametrize("predicate", sorted(COLUMNS), ids=" ".join)
def test_each_predicate_down_a_candidate_set_equals_its_pair_test(
    predicate: tuple[str, str], requests: list[Request]
) -> None:
    """Every column form, on every (query, candidate) pair of the set, with the query's SSN
    as given and set aside (as the rules see it when candidates share it), and with a member
    as the query (so that every predicate holds somewhere)."""
    compiled = RulePredicate(*predicate)
    test = compiled.compile(DEFAULT_SETTINGS)
    column = compiled.column(DEFAULT_SETTINGS, test)
    held = 0
    for r in requests:
        records = [c.record for c in r.candidates]
        # The query, without its SSN, and a candidate against the set it is in (itself).
        for query in (r.query, replace(r.query, ssn=None), *records[:1]):
            found = column(query, records)
            assert found == [test(query, c) for c in records]
            held += sum(found)
    assert held > 0


@pytest.fixture(scope="module")
def tf_resolved(policy: Policy, requests: list[Request]) -> list[Resolution]:
    """The first requests under the policy with term frequencies for the queries' given and
    family names (the default policy lists none), so that some scores carry an adjustment."""
    model = policy.document.model
    assert model is not None
    given = {r.query.given for r in requests[:120] if r.query.given}
    family = {r.query.family for r in requests[:120] if r.query.family}
    frequencies = {
        "given_name": TermFrequencies(
            values={v: 0.0005 * (1 + i % 7) for i, v in enumerate(sorted(given))}
        ),
        "family_name": TermFrequencies(values={v: 0.002 for v in family}, minimum_u=0.001),
    }
    document = policy.document.model_copy(
        update={"model": model.model_copy(update={"term_frequencies": frequencies})}
    )
    matcher = Matcher(Policy(document=document, content_hash="0" * 64, source_text=""))
    return [matcher.resolve(r.query, r.candidates) for r in requests[:120]]


def _documents(resolution: Resolution) -> list[dict[str, Any]]:
    """Each candidate's document as the verdicts render it, then its record: the stored
    candidates before the compact layouts (the oracle the compact form must render back to)."""
    return [
        {**v.evidence(), "record": record_as_dict(v.candidate.record)} for v in resolution.verdicts
    ]


def test_compact_evidence_renders_the_verdicts_documents_byte_for_byte(
    requests: list[Request], resolved: list[Resolution], tf_resolved: list[Resolution]
) -> None:
    """The stored form, through JSON as the database keeps it, renders each candidate's
    document exactly as the verdicts do, guards, stewards' marks and tf adjustments included;
    the header is shown as stored, in order, the compact keys gone."""
    kinds: set[str] = set()
    adjusted = 0
    sizes = [0, 0]  # stored, rendered
    pairs = [*zip(requests, resolved, strict=True), *zip(requests, tf_resolved, strict=False)]
    for request, resolution in pairs:
        row = decision_fields("t", request.query, resolution, "v1", {}, "fingerprint")
        stored = orjson.loads(orjson.dumps(row["evidence"]))
        assert stored["layout"] == LAYOUT
        rendered = render_evidence(stored)
        expected = _documents(resolution)
        assert orjson.dumps(rendered["candidates"]) == orjson.dumps(expected)
        assert list(rendered) == [
            k for k in row["evidence"] if k not in {"layout", "rules", "scoring", "record_keys"}
        ]
        assert rendered["query"] == record_as_dict(request.query)
        kinds |= {k for d in expected for k in d}
        adjusted += sum(len(c["score"]) == 4 for c in stored["candidates"] if c["score"])
        sizes[0] += len(orjson.dumps(stored))
        sizes[1] += len(orjson.dumps(rendered))
    assert {"guards", "steward_decision"} <= kinds
    assert adjusted > 0  # some candidates carry a term-frequency adjustment
    assert sizes[0] < sizes[1] / 2  # stored in less than half the bytes


def test_graded_facts_are_the_rendered_candidates_parts(resolved: list[Resolution]) -> None:
    """What Patient/$match grades from (status, rule verdicts, probability) without rendering:
    the same as the rendered document's."""
    for resolution in resolved[:100]:
        stored = orjson.loads(orjson.dumps({"layout": LAYOUT, **compact_candidates(resolution)}))
        facts = candidate_facts(stored)
        for fact, document in zip(facts, render_evidence(stored)["candidates"], strict=True):
            score = document["score"]
            assert fact == {
                "member_id": document["member_id"],
                "status": document["status"],
                "rules": document["rules"],
                "score": None if score is None else {"probability": score["probability"]},
            }


def test_the_layouts_show_each_comparisons_values_as_the_comparison_does(
    requests: list[Request],
) -> None:
    """Layouts 1 and 2 render the candidate's side of each comparison from its stored record
    with a projection of their own: it must equal what the comparison shows. If a comparison's
    evidence changes, this fails: keep those layouts rendering as they did and add a layout."""
    records = [c.record for r in requests[:150] for c in r.candidates]
    assert set(_RIGHT_V1) == set(COMPARISONS)
    for name, kind in COMPARISONS.items():
        shown = [orjson.dumps(kind.evidence(r)) for r in records]
        assert shown == [orjson.dumps(_RIGHT_V1[name](record_as_dict(r))) for r in records]
        assert len(set(shown)) > 1


def _walked(record: StandardRecord) -> dict[str, Any]:
    """The generic conversion `record_as_dict` used to be: every field by its value's type."""
    out: dict[str, Any] = {}
    for f in fields(record):
        value = getattr(record, f.name)
        if isinstance(value, date):
            value = value.isoformat()
        elif isinstance(value, frozenset):
            value = sorted(value)
        elif isinstance(value, tuple):
            value = list(value)
        out[f.name] = value
    return out


def test_record_as_dict_equals_the_walk_over_the_fields(requests: list[Request]) -> None:
    records = [r.query for r in requests] + [c.record for r in requests for c in r.candidates]
    records += [record_from_dict(record_as_dict(r)) for r in records[:50]]
    records += [
        StandardRecord(),
        replace(records[0], birth_date=None, given_canonicals=frozenset()),
    ]
    for record in records:
        assert orjson.dumps(record_as_dict(record)) == orjson.dumps(_walked(record))


def test_given_canonicals_replaced_field_for_field(requests: list[Request]) -> None:
    """The positional copy `given_names` widens with is `dataclasses.replace`."""
    records = [r.query for r in requests] + [c.record for r in requests[:40] for c in r.candidates]
    for record in records:
        widened = record.given_canonicals | {"X"}
        assert with_given_canonicals(record, widened) == replace(record, given_canonicals=widened)
