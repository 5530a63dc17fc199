"""POST /v1/match and GET /v1/matches/{id} over real HTTP, on both databases."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from identity.models import MatchDecision
from tests.factories import fhir_coverage, fhir_patient
from tests.households import HOME


def _decisions(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return int(session.scalar(select(func.count()).select_from(MatchDecision)) or 0)


def _match(client: httpx.Client, patient: dict[str, Any], coverage: Any = None) -> httpx.Response:
    body: dict[str, Any] = {"patient": patient}
    if coverage is not None:
        body["coverage"] = coverage
    return client.post("/v1/match", json=body)


@pytest.mark.usefixtures("household")
def test_card_birth_date_and_nickname_match(client: httpx.Client, active_policy: str) -> None:
    r = _match(client, fhir_patient("Bill", "Chen", "1958-11-02"), fhir_coverage("S200"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["outcome"] == "match"
    assert body["member_id"] == "M3"
    assert (body["stage"], body["reason"]) == ("deterministic", "positive-rule")
    assert body["probability"] == 1.0
    assert body["policy_version"] == active_policy
    [candidate] = [c for c in body["candidates"] if c["member_id"] == "M3"]
    assert "subscriber-id-birth-date-name" in candidate["rules_fired"]

    stored = client.get(f"/v1/matches/{body['match_id']}")
    assert stored.status_code == 200
    record = stored.json()
    [summary] = [c for c in record["candidates"] if c["member_id"] == "M3"]
    assert "subscriber_id" in summary["blocking_keys"]
    assert record["purged_at"] is None
    assert {k: record[k] for k in ("outcome", "member_id", "reason", "policy_version")} == {
        k: body[k] for k in ("outcome", "member_id", "reason", "policy_version")
    }
    assert record["evidence"]["query"]["given"] == "BILL"
    [evidence] = record["evidence"]["candidates"]
    assert evidence["record"]["given"] == "WILLIAM"
    assert {r["rule"] for r in evidence["rules"]} >= {"twins-different-given-name"}
    assert set(record["timings_ms"]) == {"standardize", "candidates", "decide"}
    assert len(record["input_fingerprint"]) == 64


@pytest.mark.usefixtures("household")
def test_twin_is_kept_apart_from_the_enrolled_sibling(client: httpx.Client) -> None:
    r = _match(
        client, fhir_patient("Taylor", "Okafor", "2011-07-30", **HOME), fhir_coverage("S100")
    )
    body = r.json()
    assert body["outcome"] != "match"
    jordan = next(c for c in body["candidates"] if c["member_id"] == "M2")
    assert jordan["status"] == "excluded"
    assert "twins-different-given-name" in jordan["rules_fired"]


@pytest.mark.usefixtures("household")
def test_a_stranger_has_no_match(client: httpx.Client) -> None:
    body = _match(client, fhir_patient("Quinn", "Abernathy", "1999-09-09")).json()
    assert (body["outcome"], body["reason"], body["member_id"]) == (
        "no_match",
        "no-candidates",
        None,
    )
    assert body["candidates"] == []


@pytest.mark.usefixtures("household")
def test_probable_match_with_its_field_evidence(client: httpx.Client) -> None:
    # A typo in the given name, one birth-date digit off, the same phone: no rule settles it,
    # the weights do.
    patient = fhir_patient("Mara", "Garcia", "1985-03-12", gender="female", phone="6175552368")
    body = _match(client, patient).json()
    assert (body["outcome"], body["stage"], body["reason"]) == (
        "match",
        "probabilistic",
        "match-threshold",
    )
    assert body["member_id"] == "M1"
    assert body["probability"] >= 0.97
    stored = client.get(f"/v1/matches/{body['match_id']}").json()
    maria = next(c for c in stored["evidence"]["candidates"] if c["member_id"] == "M1")
    score = maria["score"]
    levels = {f["comparison"]: f["label"] for f in score["fields"]}
    assert levels["given_name"].startswith("jaro_winkler")
    assert levels["birth_date"] == "one_digit_off"
    assert levels["household"] == "phone"
    assert levels["email"] == "null"
    given = next(f for f in score["fields"] if f["comparison"] == "given_name")
    assert (given["left"], given["right"]) == ("MARA", "MARIA")
    # The waterfall adds up: prior + every field's weight = the match weight.
    total = score["prior_weight"] + sum(f["weight"] for f in score["fields"])
    assert abs(total - score["match_weight"]) < 1e-9
    assert stored["evidence"]["policy_version"] == body["policy_version"]


@pytest.mark.usefixtures("household")
def test_same_name_and_phone_but_another_birth_date_goes_to_review(client: httpx.Client) -> None:
    patient = fhir_patient("Maria", "Garcia", "1990-07-01", gender="female", phone="6175552368")
    body = _match(client, patient).json()
    assert (body["outcome"], body["reason"]) == ("review", "review-band")
    assert body["member_id"] is None
    assert body["review_item_id"]
    assert 0.6 <= body["probability"] < 0.97


CANARY = "Zqxcanaryname"


def _bad_requests() -> list[tuple[str, bytes | dict[str, Any], str]]:
    future = fhir_patient(CANARY, born="2999-01-01")
    long_name = fhir_patient(CANARY * 800)
    many = fhir_patient()
    many["name"][0]["given"] = [CANARY] * 500
    no_dob = fhir_patient(CANARY)
    del no_dob["birthDate"]
    partial = fhir_patient(CANARY, born="1980-04")
    return [
        ("malformed JSON", b'{"patient": {"name": "' + CANARY.encode() + b'"', ""),
        ("not an object", b"[1, 2]", ""),
        ("not a Patient", {"patient": {"resourceType": "Observation", "id": CANARY}}, "/patient"),
        ("no patient", {"coverage": fhir_coverage("S1")}, "/patient"),
        ("unknown member", {"patient": fhir_patient(), "extra": CANARY}, "/extra"),
        ("FHIR-invalid", {"patient": {**fhir_patient(), "gender": CANARY}}, "/patient/gender"),
        ("future birth date", {"patient": future}, "/patient/birthDate"),
        ("partial birth date", {"patient": partial}, "/patient/birthDate"),
        ("no birth date", {"patient": no_dob}, "/patient/birthDate"),
        ("10 kB name", {"patient": long_name}, "/patient/name/0/given/0"),
        ("500 given names", {"patient": many}, "/patient/name/0/given"),
        (
            "bad coverage",
            {"patient": fhir_patient(), "coverage": {"resourceType": "Coverage", "status": CANARY}},
            "/coverage",
        ),
    ]


@pytest.mark.parametrize(
    ("body", "pointer"), [c[1:] for c in _bad_requests()], ids=[c[0] for c in _bad_requests()]
)
def test_bad_input_is_a_422_that_names_the_field_and_stores_nothing(
    client: httpx.Client,
    sessions: sessionmaker[Session],
    body: bytes | dict[str, Any],
    pointer: str,
) -> None:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    r = client.post("/v1/match", content=content, headers={"Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["status"] == 422
    assert problem["type"].endswith("/invalid-input")
    assert any(e["pointer"].startswith(pointer) for e in problem["errors"]), problem
    assert CANARY.lower() not in r.text.lower()
    assert _decisions(sessions) == 0


def test_oversized_body_is_refused(client: httpx.Client) -> None:
    r = client.post(
        "/v1/match", content=b" " * 300_000, headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 413
    assert r.headers["content-type"] == "application/problem+json"


def test_unknown_match_id_is_a_problem_404(client: httpx.Client) -> None:
    r = client.get("/v1/matches/00000000-0000-0000-0000-000000000000")
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["status"] == 404


def test_unknown_route_is_a_problem_404(client: httpx.Client) -> None:
    r = client.get("/v1/nothing-here")
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"
