"""Steward decisions over real HTTP on both databases: each kind, the item's versioned history,
and remembered decisions changing the next `/v1/match` answer to the same request (keep apart,
link, the same person), until undone."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from identity.auth.dev import mint_dev_token
from identity.config import Settings
from identity.models import AuditEvent, MatchDecision
from tests.conftest import TENANT, LiveServer
from tests.factories import fhir_patient
from tests.review.conftest import CHENS, TRISH


@pytest.fixture
def steward(live_server: LiveServer, settings: Settings) -> httpx.Client:
    """A client with `review` only: a steward (with `admin` it would act as a lead)."""
    token = mint_dev_token(
        settings, tenant=TENANT, client_id="steward-client", scopes=["review", "match"]
    )
    return live_server.client(token)


def _decide(http: httpx.Client, item_id: str, **body: Any) -> httpx.Response:
    return http.post(f"/v1/review-items/{item_id}/decisions", json=body)


def _evidence(sessions: sessionmaker[Session], match_id: str) -> dict[str, Any]:
    with sessions() as session:
        decision = session.get(MatchDecision, match_id)
        assert decision is not None
        return dict(decision.evidence)


@pytest.mark.usefixtures("members")
def test_same_person_answers_the_survivor_until_undone(
    steward: httpx.Client, sessions: sessionmaker[Session]
) -> None:
    first = steward.post("/v1/match", json=CHENS).json()
    assert (first["outcome"], first["reason"]) == ("review", "multiple-certain")
    item_id = first["review_item_id"]

    r = _decide(
        steward,
        item_id,
        kind="same_person",
        member_id="M3",
        other_member_id="M4",
        note="one person enrolled twice",
    )
    assert r.status_code == 201, r.text
    assert (r.json()["kind"], r.json()["version"]) == ("same_person", 1)

    again = steward.post("/v1/match", json=CHENS).json()
    assert (again["outcome"], again["member_id"], again["reason"]) == ("match", "M3", "same-person")
    assert again["review_item_id"] is None
    evidence = _evidence(sessions, again["match_id"])["steward_decision"]
    assert evidence == {"member_id": "M3", "others": ["M4"], "resolution_ids": [r.json()["id"]]}

    # Undone (a new version on the item), the same request is multiple-certain again.
    undo = _decide(steward, item_id, kind="not_same_person", member_id="M3", other_member_id="M4")
    assert undo.status_code == 201, undo.text
    assert steward.post("/v1/match", json=CHENS).json()["reason"] == "multiple-certain"
    # Nothing left to undo.
    assert (
        _decide(
            steward, item_id, kind="not_same_person", member_id="M3", other_member_id="M4"
        ).status_code
        == 409
    )


@pytest.mark.usefixtures("members")
def test_keep_apart_is_remembered_for_the_same_request(steward: httpx.Client) -> None:
    first = steward.post("/v1/match", json=CHENS).json()
    r = _decide(steward, first["review_item_id"], kind="keep_apart", member_id="M4")
    assert r.status_code == 201, r.text
    # M4 is set aside for this request: M3 alone is certain, no new review item.
    again = steward.post("/v1/match", json=CHENS).json()
    assert (again["outcome"], again["member_id"], again["review_item_id"]) == ("match", "M3", None)
    # Another request (another fingerprint) is not affected.
    other = {**CHENS, "patient": fhir_patient("William", "Chen", "1958-11-02")}
    assert steward.post("/v1/match", json=other).json()["reason"] == "multiple-certain"

    # The remembered decision is listed and can be undone; the old answer comes back.
    listed = steward.get("/v1/remembered-decisions", params={"member_id": "M4"}).json()
    [memory] = listed["remembered"]
    assert (memory["kind"], memory["active"], memory["resolution_id"]) == (
        "keep_apart",
        True,
        r.json()["id"],
    )
    undone = steward.post(f"/v1/remembered-decisions/{memory['id']}/undo")
    assert undone.status_code == 200, undone.text
    assert undone.json()["active"] is False
    assert steward.get("/v1/remembered-decisions").json()["remembered"] == []
    assert steward.post("/v1/match", json=CHENS).json()["reason"] == "multiple-certain"


@pytest.mark.usefixtures("members")
def test_link_makes_the_next_answer_certain_and_unlink_revokes_it(
    steward: httpx.Client, sessions: sessionmaker[Session]
) -> None:
    first = steward.post("/v1/match", json=TRISH).json()
    assert first["outcome"] == "review"
    item_id = first["review_item_id"]
    link = _decide(steward, item_id, kind="link", member_id="DH10001235", note="checked by phone")
    assert link.status_code == 201, link.text

    again = steward.post("/v1/match", json=TRISH).json()
    assert (again["outcome"], again["member_id"], again["reason"]) == (
        "match",
        "DH10001235",
        "steward-decision",
    )
    [candidate] = [
        c
        for c in _evidence(sessions, again["match_id"])["candidates"]
        if c["member_id"] == "DH10001235"
    ]
    assert candidate["steward_decision"] == {
        "stage": "steward-decision",
        "kind": "link",
        "resolution_id": link.json()["id"],
    }

    # A new person: the request is none of the candidates; remembered as kept apart from all.
    changed = _decide(steward, item_id, kind="new_person", note="a different Trish")
    assert changed.status_code == 201
    assert steward.post("/v1/match", json=TRISH).json()["outcome"] == "no_match"

    history = steward.get(f"/v1/review-items/{item_id}/history").json()["resolutions"]
    assert [(h["version"], h["kind"], h["superseded"]) for h in history] == [
        (2, "new_person", False),
        (1, "link", True),
    ]
    assert history[1]["note"] == "checked by phone"
    assert history[0]["decided_by"] == "client:steward-client"
    item = steward.get(f"/v1/review-items/{item_id}").json()
    assert (item["status"], item["resolution"], item["resolved_member_id"]) == (
        "resolved",
        "new_person",
        None,
    )


@pytest.mark.usefixtures("members")
def test_escalation_waits_for_a_lead(
    steward: httpx.Client, live_server: LiveServer, settings: Settings
) -> None:
    item_id = steward.post("/v1/match", json=TRISH).json()["review_item_id"]
    assert _decide(steward, item_id, kind="escalate", note="unsure").status_code == 201
    assert steward.get(f"/v1/review-items/{item_id}").json()["status"] == "escalated"
    refused = _decide(steward, item_id, kind="link", member_id="DH10001235")
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    # An escalated item is not in a steward's claim_next, and a steward cannot assign.
    assert steward.post("/v1/review-items/claim-next").json() == {"item": None}
    assign = steward.post(f"/v1/review-items/{item_id}/assign", json={"to_person": "x"})
    assert assign.status_code == 403

    lead_token = mint_dev_token(settings, tenant=TENANT, client_id="lead-client")
    with live_server.client(lead_token) as lead:
        assert _decide(lead, item_id, kind="link", member_id="DH10001235").status_code == 201
    assert steward.get(f"/v1/review-items/{item_id}").json()["status"] == "resolved"


@pytest.mark.usefixtures("members")
def test_claims_over_http(
    steward: httpx.Client, live_server: LiveServer, settings: Settings
) -> None:
    item_id = steward.post("/v1/match", json=TRISH).json()["review_item_id"]
    taken = steward.post("/v1/review-items/claim-next").json()["item"]
    assert taken["id"] == item_id
    assert taken["claimed_by"] == "client:steward-client"
    other_token = mint_dev_token(
        settings, tenant=TENANT, client_id="other-steward", scopes=["review"]
    )
    with live_server.client(other_token) as other:
        held = other.post(f"/v1/review-items/{item_id}/claim")
        assert held.status_code == 409
        assert _decide(other, item_id, kind="keep_apart").status_code == 409
        assert other.post(f"/v1/review-items/{item_id}/release").status_code == 409
    released = steward.post(f"/v1/review-items/{item_id}/release").json()
    assert released["claimed_by"] is None


@pytest.mark.usefixtures("members")
@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"kind": "link", "member_id": "NOT-A-CANDIDATE"}, "/member_id"),
        ({"kind": "link"}, "/member_id"),
        ({"kind": "same_person", "member_id": "M3"}, "/other_member_id"),
        ({"kind": "same_person", "member_id": "M3", "other_member_id": "M3"}, "/other_member_id"),
        (
            {"kind": "same_person", "member_id": "M3", "other_member_id": "NOBODY"},
            "/other_member_id",
        ),
        ({"kind": "new_person", "member_id": "M3"}, "/member_id"),
    ],
    ids=[
        "not a candidate",
        "link without member",
        "pair of one",
        "pair with itself",
        "pair with a stranger",
        "new person with member",
    ],
)
def test_bad_decisions_are_422_and_change_nothing(
    steward: httpx.Client, body: dict[str, Any], pointer: str
) -> None:
    item_id = steward.post("/v1/match", json=CHENS).json()["review_item_id"]
    r = _decide(steward, item_id, **body)
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["pointer"] == pointer
    assert steward.get(f"/v1/review-items/{item_id}/history").json()["resolutions"] == []
    assert steward.get(f"/v1/review-items/{item_id}").json()["status"] == "open"


@pytest.mark.usefixtures("members")
def test_a_same_person_pair_may_name_any_member_of_the_tenant(steward: httpx.Client) -> None:
    item_id = steward.post("/v1/match", json=CHENS).json()["review_item_id"]
    r = _decide(steward, item_id, kind="same_person", member_id="M3", other_member_id="DH10001235")
    assert r.status_code == 201, r.text


@pytest.mark.usefixtures("members")
def test_decisions_are_audited_with_the_resolution(
    steward: httpx.Client, sessions: sessionmaker[Session]
) -> None:
    item_id = steward.post("/v1/match", json=CHENS).json()["review_item_id"]
    decided = _decide(steward, item_id, kind="keep_apart", member_id="M4").json()
    with sessions() as session:
        events = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "review.decide")
        ).all()
    [event] = events
    assert {item_id, decided["id"], "M4"} <= set(event.object_ids)
    assert event.client_id == "steward-client"
    assert event.person is None
