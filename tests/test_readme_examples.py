"""The README's first-run requests, against the sample's showcase household as `identity demo`
loads it: what a newcomer is told to expect is what the service answers."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy.orm import Session, sessionmaker

from identity.cli.demo import SHOWCASE
from identity.db import transaction
from identity.member.service import load_members
from tests.conftest import TENANT

MARIA = {"resourceType": "Patient", "gender": "female", "birthDate": "1984-03-12"}
HOME_PHONE = [{"system": "phone", "value": "617-555-2368"}]


def _ask(client: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    r = client.post("/v1/match", json=body)
    assert r.status_code == 200, r.text
    answer: dict[str, Any] = r.json()
    return answer


def _statuses(answer: dict[str, Any]) -> dict[str, tuple[str, list[str]]]:
    return {c["member_id"]: (c["status"], c["rules_fired"]) for c in answer["candidates"]}


def test_the_readme_requests_answer_as_the_readme_says(
    sessions: sessionmaker[Session], client: httpx.Client
) -> None:
    with transaction(sessions) as session:
        assert load_members(session, TENANT, [SHOWCASE]).ok

    by_card = _ask(
        client,
        {
            "patient": {**MARIA, "name": [{"family": "Garcia Lopez", "given": ["Maria"]}]},
            "coverage": {
                "resourceType": "Coverage",
                "status": "active",
                "subscriberId": "S9000000001",
                "beneficiary": {"reference": "Patient/1"},
                "payor": [{"display": "Any"}],
            },
        },
    )
    assert (by_card["outcome"], by_card["member_id"], by_card["stage"]) == (
        "match",
        "M900000001",
        "deterministic",
    )

    by_maiden_name = _ask(
        client,
        {
            "patient": {
                **MARIA,
                "name": [{"family": "Lopez", "given": ["Maria"]}],
                "telecom": HOME_PHONE,
            }
        },
    )
    assert (by_maiden_name["outcome"], by_maiden_name["stage"]) == ("match", "probabilistic")
    assert by_maiden_name["member_id"] == "M900000001"
    son_status, son_rules = _statuses(by_maiden_name)["M900000002"]
    assert son_status == "excluded"
    assert "household-relative" in son_rules

    # Her son is enrolled twice (a second plan's card): a question for a data steward.
    son = {
        "resourceType": "Patient",
        "gender": "male",
        "birthDate": "2011-07-30",
        "name": [{"family": "Okafor", "given": ["Jordan"]}],
        "telecom": HOME_PHONE,
    }
    twice = _ask(client, {"patient": son})
    assert (twice["outcome"], twice["reason"]) == ("review", "ambiguous")
    assert twice["review_item_id"]
    best_two = {c["member_id"]: c["probability"] for c in twice["candidates"][:2]}
    assert set(best_two) == {"M900000002", "M900000003"}
    assert best_two["M900000002"] == best_two["M900000003"] > 0.99

    # A steward marks the two records as one person: the same request is answered at once.
    settled = client.post(
        f"/v1/review-items/{twice['review_item_id']}/decisions",
        json={"kind": "same_person", "member_id": "M900000002", "other_member_id": "M900000003"},
    )
    assert settled.status_code == 201, settled.text
    again = _ask(client, {"patient": son})
    assert (again["outcome"], again["member_id"], again["reason"]) == (
        "match",
        "M900000002",
        "same-person",
    )
