"""Review items: a `review` decision opens one in the same transaction; the queue lists them."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from identity.member.service import load_members
from identity.models import ReviewItem
from tests.conftest import TENANT
from tests.factories import fhir_coverage, fhir_patient


@pytest.fixture
def enrolled_twice(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    """One person enrolled under two member ids (a duplicate enrolment), and someone else."""
    resources = [
        fhir_patient("William", "Chen", "1958-11-02", member_id="M3", resource_id="p3"),
        fhir_coverage("S200", "Patient/p3"),
        fhir_patient("William", "Chen", "1958-11-02", member_id="M4", resource_id="p4"),
        fhir_coverage("S200", "Patient/p4"),
        fhir_patient(
            "Ana", "Ruiz", "1990-05-06", gender="female", member_id="M5", resource_id="p5"
        ),
        fhir_coverage("S300", "Patient/p5"),
    ]
    path = tmp_path / "members.ndjson"
    path.write_text("".join(json.dumps(r) + "\n" for r in resources))
    with sessions() as session:
        assert load_members(session, TENANT, [path]).ok
        session.commit()


def _items(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return int(session.scalar(select(func.count()).select_from(ReviewItem)) or 0)


@pytest.mark.usefixtures("enrolled_twice")
def test_a_review_decision_opens_an_item(
    client: httpx.Client, sessions: sessionmaker[Session]
) -> None:
    body = {
        "patient": fhir_patient("Bill", "Chen", "1958-11-02"),
        "coverage": fhir_coverage("S200"),
    }
    decision = client.post("/v1/match", json=body).json()
    assert (decision["outcome"], decision["reason"]) == ("review", "multiple-certain")
    assert decision["review_item_id"]

    page = client.get("/v1/review-items", params={"status": "open"}).json()
    [item] = page["items"]
    assert item["id"] == decision["review_item_id"]
    assert item["match_id"] == decision["match_id"]
    assert item["reason"] == "multiple-certain"
    assert item["policy_version"] == decision["policy_version"]
    assert {c["member_id"] for c in item["candidates"]} == {"M3", "M4"}
    assert page["next_cursor"] is None

    one = client.get(f"/v1/review-items/{item['id']}")
    assert one.status_code == 200
    assert one.json()["status"] == "open"
    stored = client.get(f"/v1/matches/{decision['match_id']}").json()
    assert stored["review_item_id"] == item["id"]

    # A clear match opens nothing.
    clear = {
        "patient": fhir_patient("Ana", "Ruiz", "1990-05-06", gender="female"),
        "coverage": fhir_coverage("S300"),
    }
    assert client.post("/v1/match", json=clear).json()["outcome"] == "match"
    assert _items(sessions) == 1


@pytest.mark.usefixtures("enrolled_twice")
def test_the_queue_pages_oldest_first(client: httpx.Client) -> None:
    body = {
        "patient": fhir_patient("Bill", "Chen", "1958-11-02"),
        "coverage": fhir_coverage("S200"),
    }
    ids = [client.post("/v1/match", json=body).json()["review_item_id"] for _ in range(3)]
    seen: list[str] = []
    cursor = None
    for _ in range(5):
        params = {"status": "open", "limit": "2", **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/review-items", params=params).json()
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids
    assert client.get("/v1/review-items", params={"status": "resolved"}).json()["items"] == []


@pytest.mark.parametrize(
    ("params", "pointer"),
    [
        ({"status": "pending"}, "/status"),
        ({"cursor": "bm90LWEtY3Vyc29y"}, "/cursor"),
        ({"limit": "0"}, "/query/limit"),
    ],
    ids=["unknown status", "forged cursor", "limit zero"],
)
def test_bad_queue_queries_are_422(
    client: httpx.Client, params: dict[str, str], pointer: str
) -> None:
    r = client.get("/v1/review-items", params=params)
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["errors"][0]["pointer"] == pointer


def test_unknown_review_item_is_404(client: httpx.Client) -> None:
    r = client.get("/v1/review-items/nope")
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"
