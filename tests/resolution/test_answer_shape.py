"""Minimum necessary: the `/v1/match` answer names who matched and why, never anyone's
demographics; the stored evidence is for `decisions:read` alone. Over real HTTP, both databases."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from identity.auth.dev import mint_dev_token
from identity.config import Settings
from identity.member.service import load_members
from tests.conftest import TENANT, LiveServer
from tests.factories import fhir_coverage, fhir_patient

HOME = {"street": "221 Quillfeather Lane", "zip_code": "01060", "phone": "413-555-0187"}
ROSALIND = {"given": "Rosalind", "family": "Vantongeren", "born": "1979-06-14"}
# Every value the household's records hold, raw and standardised: none may reach a `match` answer.
DEMOGRAPHICS = [
    "Rosalind",
    "Octavius",
    "Juniper",
    "Vantongeren",
    "1979-06-14",
    "1976-02-27",
    "2008-09-03",
    "1979",
    "1976",
    "2008-09",
    "Quillfeather",
    "01060",
    "Somerville",
    "413-555-0187",
    "4135550187",
    "512-44-1093",
    "512441093",
    "1093",
    "512-44-2288",
    "512442288",
    "2288",
    "S777",
]
ANSWER_KEYS = {
    "match_id",
    "review_item_id",
    "outcome",
    "member_id",
    "probability",
    "policy_version",
    "stage",
    "reason",
    "candidates",
}
CANDIDATE_KEYS = {"member_id", "status", "probability", "rules_fired"}


@pytest.fixture
def vantongerens(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    """A subscriber, her spouse and their child: one home, one phone, one card."""
    resources = [
        fhir_patient(
            "Rosalind",
            "Vantongeren",
            "1979-06-14",
            gender="female",
            member_id="R1",
            resource_id="r1",
            ssn="512-44-1093",
            **HOME,
        ),
        fhir_coverage("S777", "Patient/r1"),
        fhir_patient(
            "Octavius",
            "Vantongeren",
            "1976-02-27",
            member_id="R2",
            resource_id="r2",
            ssn="512-44-2288",
            **HOME,
        ),
        fhir_coverage("S777", "Patient/r2", "spouse"),
        fhir_patient(
            "Juniper",
            "Vantongeren",
            "2008-09-03",
            gender="female",
            member_id="R3",
            resource_id="r3",
            **HOME,
        ),
        fhir_coverage("S777", "Patient/r3", "child"),
    ]
    path = tmp_path / "vantongeren.ndjson"
    path.write_text("".join(json.dumps(r) + "\n" for r in resources))
    with sessions() as session:
        assert load_members(session, TENANT, [path]).ok
        session.commit()


@pytest.fixture
def matcher(
    live_server: LiveServer, settings: Settings, vantongerens: None
) -> Iterator[httpx.Client]:
    """A payer holding the `match` scope only."""
    token = mint_dev_token(settings, tenant=TENANT, client_id="payer", scopes=["match"])
    with live_server.client(token) as c:
        yield c


@pytest.fixture
def analyst(live_server: LiveServer, settings: Settings) -> Iterator[httpx.Client]:
    token = mint_dev_token(settings, tenant=TENANT, client_id="analyst", scopes=["decisions:read"])
    with live_server.client(token) as c:
        yield c


# Random ids and hashes, which could hold four digits of a birth year or SSN by chance.
OPAQUE = {"match_id", "review_item_id", "policy_version", "instance", "request_id"}


def _strings(node: Any) -> Iterator[str]:
    """Every key and string value in a JSON document but the opaque ids."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield str(key)
            if key not in OPAQUE:
                yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)
    elif isinstance(node, str):
        yield node


def _disclosed(body: Any) -> list[str]:
    """The household's demographic values found anywhere in a JSON document."""
    strings = [s.lower() for s in _strings(body)]
    return [v for v in DEMOGRAPHICS if any(v.lower() in s for s in strings)]


REQUESTS = {
    # Her card settles it; her spouse and child, on the same card, are excluded.
    "by card": {
        "patient": fhir_patient(**ROSALIND, gender="female", **HOME),
        "coverage": fhir_coverage("S777"),
    },
    # No card: the weights decide, the relatives are excluded by the household rules.
    "by phone": {"patient": fhir_patient(**ROSALIND, gender="female", phone=HOME["phone"])},
}


@pytest.mark.parametrize("request_body", REQUESTS.values(), ids=REQUESTS.keys())
def test_a_match_answer_discloses_no_demographics(
    matcher: httpx.Client, request_body: dict[str, Any]
) -> None:
    r = matcher.post("/v1/match", json=request_body)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["outcome"], body["member_id"]) == ("match", "R1")
    assert set(body) == ANSWER_KEYS
    assert {c["member_id"] for c in body["candidates"]} == {"R1", "R2", "R3"}
    for candidate in body["candidates"]:
        assert set(candidate) == CANDIDATE_KEYS
    relatives = [c for c in body["candidates"] if c["member_id"] != "R1"]
    for relative in relatives:
        assert relative["status"] == "excluded"
        assert relative["rules_fired"], relative  # the rule that excluded them is named
    # Neither the candidates' records nor the query come back, in any form.
    assert _disclosed(body) == []


def test_a_replayed_answer_has_the_same_minimal_shape(matcher: httpx.Client) -> None:
    headers = {"Idempotency-Key": "shape-1"}
    first = matcher.post("/v1/match", json=REQUESTS["by card"], headers=headers)
    again = matcher.post("/v1/match", json=REQUESTS["by card"], headers=headers)
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.content == first.content
    assert set(again.json()) == ANSWER_KEYS
    assert _disclosed(again.json()) == []


def test_the_full_evidence_needs_decisions_read(
    matcher: httpx.Client, analyst: httpx.Client
) -> None:
    answer = matcher.post("/v1/match", json=REQUESTS["by card"]).json()
    match_id = answer["match_id"]

    # The client that asked reads back its own minimal answer (and the review's resolution),
    # never the evidence.
    own = matcher.get(f"/v1/matches/{match_id}")
    assert own.status_code == 200
    assert set(own.json()) == ANSWER_KEYS | {"resolution"}
    assert {k: v for k, v in own.json().items() if k != "resolution"} == answer
    assert own.json()["resolution"] is None  # a match, no review
    assert _disclosed(own.json()) == []

    stored = analyst.get(f"/v1/matches/{match_id}")
    assert stored.status_code == 200
    record = stored.json()
    assert "Octavius" in _disclosed(record)  # the scan above finds what is there
    assert record["evidence"]["query"]["given"] == "ROSALIND"
    octavius = next(c for c in record["evidence"]["candidates"] if c["member_id"] == "R2")
    assert octavius["record"]["given"] == "OCTAVIUS"
    assert octavius["status"] == "excluded"
    assert any(r["fired"] and r["kind"] == "negative" for r in octavius["rules"])
    summary = next(c for c in record["candidates"] if c["member_id"] == "R2")
    assert summary["blocking_keys"]
