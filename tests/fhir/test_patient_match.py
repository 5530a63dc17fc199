"""The pure side of Patient/$match: grades from a decision and its policy's thresholds (a table a
steward can read), onlyCertainMatches and count, and members rendered as valid R4 Patients."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.patient import Patient

from identity.errors import InvalidInput
from identity.fhir.patient_match import (
    MAX_COUNT,
    Grade,
    GradedCandidate,
    match_bundle,
    parse_patient_match,
    patient_id,
    patient_resource,
    select_entries,
)
from identity.fhir.patient_match import grade_candidates as grade_all
from identity.matching.policy import DecisionSpec
from identity.models import MatchDecision
from tests.factories import fhir_patient

SPEC = DecisionSpec(match_probability=0.97, review_probability=0.60, margin=0.10)
TODAY = date(2026, 11, 22)


def candidate(
    member_id: str, status: str, probability: float | None, fired: tuple[str, ...] = ()
) -> dict[str, Any]:
    kinds = {"twins": "negative", "household": "negative", "ssn": "positive", "card": "positive"}
    return {
        "member_id": member_id,
        "status": status,
        "rules": [{"rule": r, "kind": kinds[r], "fired": r in fired} for r in kinds],
        "score": None if probability is None else {"probability": probability},
    }


def decision(outcome: str, member_id: str | None, *candidates: dict[str, Any]) -> MatchDecision:
    return MatchDecision(
        id="d-1",
        outcome=outcome,
        member_id=member_id,
        stored_evidence={"candidates": list(candidates)},
    )


def graded(d: MatchDecision, spec: DecisionSpec = SPEC) -> list[tuple[str, str, float | None]]:
    return [(g.member_id, g.grade.value, g.score) for g in grade_all(d, spec)]


# (what happened, the decision, the graded entries best first)
GRADES = [
    (
        "a positive rule: certain at 1.0, whatever the weights",
        decision("match", "A", candidate("A", "certain", 0.42, ("ssn",))),
        [("A", "certain", 1.0)],
    ),
    (
        "a probabilistic match: certain at its probability",
        decision("match", "A", candidate("A", "open", 0.99), candidate("B", "open", 0.70)),
        [("A", "certain", 0.99), ("B", "possible", 0.70)],
    ),
    (
        "two close candidates above the match threshold: both probable",
        decision("review", None, candidate("A", "open", 0.99), candidate("B", "open", 0.98)),
        [("A", "probable", 0.99), ("B", "probable", 0.98)],
    ),
    (
        "two candidates certain by rules: ambiguity, so probable",
        decision(
            "review",
            None,
            candidate("B", "certain", 0.9, ("card",)),
            candidate("A", "certain", 0.8, ("card",)),
        ),
        [("A", "probable", 1.0), ("B", "probable", 1.0)],
    ),
    (
        "the review band is possible; below it is not returned",
        decision("review", None, candidate("A", "open", 0.60), candidate("B", "open", 0.59)),
        [("A", "possible", 0.60)],
    ),
    (
        "a twin excluded by a negative rule: certainly-not at 0, even with high weights",
        decision("no_match", None, candidate("T", "excluded", 0.9996, ("twins",))),
        [("T", "certainly-not", 0.0)],
    ),
    (
        "a certain match and an excluded relative: certain first",
        decision(
            "match",
            "A",
            candidate("R", "excluded", 0.01, ("household",)),
            candidate("A", "certain", 1.0, ("ssn",)),
        ),
        [("A", "certain", 1.0), ("R", "certainly-not", 0.0)],
    ),
    (
        "a policy without a model that reviews unscored candidates: possible, no score",
        decision("review", None, candidate("A", "open", None)),
        [("A", "possible", None)],
    ),
]


@pytest.mark.parametrize(("d", "expected"), [g[1:] for g in GRADES], ids=[g[0] for g in GRADES])
def test_grades(d: MatchDecision, expected: list[tuple[str, str, float | None]]) -> None:
    assert graded(d) == expected


def test_unscored_candidates_are_left_out_when_the_policy_calls_them_no_match() -> None:
    spec = SPEC.model_copy(update={"unscored_outcome": "no_match"})
    assert graded(decision("no_match", None, candidate("A", "open", None)), spec) == []


def test_rules_named_are_those_behind_the_grade() -> None:
    d = decision(
        "match",
        "A",
        candidate("A", "certain", 1.0, ("ssn", "card")),
        candidate("T", "excluded", 0.9, ("twins", "household")),
    )
    assert [g.rules for g in grade_all(d, SPEC)] == [("ssn", "card"), ("twins", "household")]


ENTRIES = [
    GradedCandidate("A", Grade.CERTAIN, 1.0),
    GradedCandidate("B", Grade.PROBABLE, 0.98),
    GradedCandidate("C", Grade.POSSIBLE, 0.7),
    GradedCandidate("D", Grade.CERTAINLY_NOT, 0.0),
]


def test_only_certain_matches_and_count() -> None:
    everything = select_entries(ENTRIES, only_certain=False, count=MAX_COUNT)
    assert (len(everything.entries), everything.total, everything.withheld) == (4, 4, 0)
    certain = select_entries(ENTRIES, only_certain=True, count=MAX_COUNT)
    assert ([e.member_id for e in certain.entries], certain.total, certain.withheld) == (
        ["A"],
        1,
        3,
    )
    two = select_entries(ENTRIES, only_certain=False, count=2)
    assert ([e.member_id for e in two.entries], two.total) == (["A", "B"], 4)


CSV_ROW = {
    "member_id": "M 77/1",
    "given": "Ana",
    "middle": "Lucia",
    "family": "Ruiz",
    "previous_family": "Soto",
    "birth_date": "1990-05-06",
    "sex": "female",
    "ssn": "123-45-6789",
    "phone": "617-555-0101",
    "address_line1": "1 Main St",
    "city": "Boston",
    "state": "MA",
    "zip": "02110",
    "subscriber_id": "S9",
}


def test_a_csv_member_is_rendered_as_a_valid_patient() -> None:
    patient = patient_resource("M 77/1", CSV_ROW)
    Patient.model_validate(patient)
    assert patient["id"] == patient_id("M 77/1") != "M 77/1"  # not a valid FHIR id as it is
    assert patient["name"] == [
        {"use": "official", "family": "Ruiz", "given": ["Ana", "Lucia"]},
        {"use": "old", "family": "Soto", "given": ["Ana", "Lucia"]},
    ]
    assert (patient["birthDate"], patient["gender"]) == ("1990-05-06", "female")
    assert patient["address"][0]["postalCode"] == "02110"
    assert [i["value"] for i in patient["identifier"]] == ["123-45-6789", "M 77/1"]


def test_a_fhir_member_keeps_its_patient_and_identifier() -> None:
    source = fhir_patient("Ana", "Ruiz", member_id="M5", resource_id="source-id")
    patient = patient_resource("M5", source)
    Patient.model_validate(patient)
    assert patient["id"] == "M5"
    assert patient["identifier"] == source["identifier"]  # the member id is there already
    assert {k: v for k, v in patient.items() if k != "id"} == {
        k: v for k, v in source.items() if k != "id"
    }


def test_the_bundle_is_valid_and_names_its_decision() -> None:
    selection = select_entries(ENTRIES[:1], only_certain=False, count=MAX_COUNT)
    d = decision("match", "A")
    body = match_bundle(d, selection, {"A": fhir_patient(member_id="A")}, base_url="https://x/")
    Bundle.model_validate(body)
    assert body["identifier"]["value"] == "d-1"
    assert body["entry"][0]["fullUrl"] == "https://x/fhir/Patient/A"


def test_every_parameter_error_is_reported_at_once() -> None:
    bad = fhir_patient()
    del bad["birthDate"]
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "resource", "resource": bad},
            {"name": "onlyCertainMatches", "valueBoolean": "yes"},
            {"name": "count", "valueInteger": -1},
        ],
    }
    with pytest.raises(InvalidInput) as caught:
        parse_patient_match(body, TODAY)
    assert [e.pointer for e in caught.value.errors] == [
        "/parameter/0/resource/birthDate",
        "/parameter/1/valueBoolean",
        "/parameter/2/valueInteger",
    ]


def test_defaults() -> None:
    body = {
        "resourceType": "Parameters",
        "parameter": [{"name": "resource", "resource": fhir_patient()}],
    }
    parsed = parse_patient_match(body, TODAY)
    assert (parsed.only_certain, parsed.count) == (False, MAX_COUNT)
    assert parsed.demographics.birth_date == "1980-04-02"
