"""A duplicate-enrolment cluster of three records settled from its one review item, over the
real HTTP API on both databases: "same person" with `other_member_ids` pairs every named record
with the survivor in one decision (or only the records the steward picked), through the review
queue's own service, and matching then answers with the survivor."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from identity.audit.actor import Actor
from identity.auth.dev import mint_dev_token
from identity.config import Settings
from identity.db import tenant_transaction
from identity.dedupe.service import DedupeOptions, DedupeRun, find_duplicates
from identity.member.service import load_members
from identity.models import SamePersonPair
from identity.policy import service as policy_service
from tests.conftest import TENANT, LiveServer
from tests.factories import fhir_coverage, fhir_patient

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
# One person enrolled three times (twice with her SSN, once without), and two other people.
PERSON = {"given": "Quenby", "family": "Marchetti", "born": "1961-03-14", "gender": "female"}
TRIPLE = ("D1", "D2", "D3")


def _patient(member_id: str, **kw: Any) -> dict[str, Any]:
    return fhir_patient(member_id=member_id, resource_id=f"p-{member_id}", **kw)


@pytest.fixture
def cluster(
    sessions: sessionmaker[Session], active_policy: str, tmp_path: Path
) -> tuple[str, tuple[str, ...]]:
    """The master loaded and deduped: (the cluster's review item id, its members)."""
    resources = []
    for member_id, ssn in zip(TRIPLE, ("219-09-4417", "219-09-4417", None), strict=True):
        resources += [
            _patient(member_id, ssn=ssn, zip_code="02143", **PERSON),
            fhir_coverage(f"S-{member_id}", f"Patient/p-{member_id}"),
        ]
    for member_id, given, family, born in (
        ("E1", "Rosalind", "Okonkwo", "1975-08-30"),
        ("E2", "Tobias", "Lindqvist", "1990-01-02"),
    ):
        resources += [
            _patient(member_id, given=given, family=family, born=born),
            fhir_coverage(f"S-{member_id}", f"Patient/p-{member_id}"),
        ]
    path = tmp_path / "members.ndjson"
    path.write_text("".join(json.dumps(r) + "\n" for r in resources))
    with sessions() as session:
        assert load_members(session, TENANT, [path]).ok
        session.commit()
    run = _dedupe(sessions, active_policy)
    assert [c.members for c in run.new_clusters] == [TRIPLE]
    return run.item_ids[0], TRIPLE


def _dedupe(sessions: sessionmaker[Session], version: str) -> DedupeRun:
    actor = Actor(tenant=TENANT, client_id=None, request_id=None, person="test")
    with tenant_transaction(sessions, TENANT) as session:
        policy = policy_service.stored_policy(session, version)
        options = DedupeOptions(threshold=policy.document.decision.review_probability)
        return find_duplicates(session, actor, policy, options, now=NOW)


@pytest.fixture
def steward(live_server: LiveServer, settings: Settings) -> Iterator[httpx.Client]:
    token = mint_dev_token(
        settings, tenant=TENANT, client_id="steward-client", scopes=["review", "match"]
    )
    with live_server.client(token) as client:
        yield client


def _ask(client: httpx.Client) -> dict[str, Any]:
    """A request about the person (no member id: another payer does not know it)."""
    body = {"patient": fhir_patient(**PERSON), "coverage": fhir_coverage("S-other")}
    response = client.post("/v1/match", json=body)
    assert response.status_code == 200, response.text
    return dict(response.json())


def _pairs(sessions: sessionmaker[Session]) -> set[tuple[str, str, bool]]:
    with sessions() as session:
        rows = session.scalars(select(SamePersonPair)).all()
        return {(r.member_id, r.other_member_id, r.active) for r in rows}


def test_same_person_on_a_cluster_pairs_every_record_the_steward_names(
    sessions: sessionmaker[Session],
    cluster: tuple[str, tuple[str, ...]],
    steward: httpx.Client,
    active_policy: str,
) -> None:
    item_id, (survivor, second, third) = cluster
    decisions = f"/v1/review-items/{item_id}/decisions"
    # Three records of one person: no single record answers a request about her.
    assert _ask(steward)["outcome"] == "review"

    # The steward picks one record only: the third stays a record of its own.
    picked = steward.post(
        decisions, json={"kind": "same_person", "member_id": survivor, "other_member_ids": [second]}
    )
    assert picked.status_code == 201, picked.text
    assert picked.json()["other_member_id"] == second
    assert picked.json()["other_member_ids"] == [second]
    assert _pairs(sessions) == {(survivor, second, True)}
    assert _ask(steward)["outcome"] == "review"

    # The whole cluster in one newer decision: every other record paired with the survivor.
    whole = steward.post(
        decisions,
        json={"kind": "same_person", "member_id": survivor, "other_member_ids": [second, third]},
    )
    assert whole.status_code == 201, whole.text
    assert whole.json()["other_member_id"] is None
    assert whole.json()["other_member_ids"] == [second, third]
    assert _pairs(sessions) == {
        (survivor, second, False),  # the first decision's pair, replaced
        (survivor, second, True),
        (survivor, third, True),
    }
    answer = _ask(steward)
    assert (answer["outcome"], answer["member_id"]) == ("match", survivor)

    item = steward.get(f"/v1/review-items/{item_id}").json()
    assert (item["status"], item["resolution"], item["resolved_member_id"]) == (
        "resolved",
        "same_person",
        survivor,
    )
    history = steward.get(f"/v1/review-items/{item_id}/history").json()
    assert [r["other_member_ids"] for r in history["resolutions"]] == [[second, third], [second]]
    # Undoing one remembered pair leaves the other: a request finds two records of her again.
    remembered = steward.get("/v1/remembered-decisions", params={"member_id": third}).json()
    [pair] = [r for r in remembered["remembered"] if r["active"]]
    assert (pair["kind"], pair["member_id"], pair["other_member_id"]) == (
        "same_person",
        survivor,
        third,
    )
    undo = steward.post(f"/v1/remembered-decisions/{pair['id']}/undo")
    assert undo.status_code == 200, undo.text
    assert (survivor, second, True) in _pairs(sessions)
    assert (survivor, third, True) not in _pairs(sessions)
    assert _ask(steward)["outcome"] == "review"
    # The set was offered once: a rerun offers nothing new.
    assert _dedupe(sessions, active_policy).new_clusters == []


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"member_id": "D1", "other_member_ids": ["D2", "D1"]}, "/other_member_ids/1"),
        ({"member_id": "D1", "other_member_ids": ["D2", "D2"]}, "/other_member_ids/1"),
        (
            {"member_id": "D1", "other_member_ids": ["D2"], "other_member_id": "D3"},
            "/other_member_id",
        ),
        ({"other_member_ids": ["D2", "D3"]}, "/member_id"),
        ({"member_id": "D1", "other_member_ids": ["D2", "NOPE"]}, "/other_member_ids/1"),
        ({"kind": "keep_apart", "other_member_ids": ["D2"]}, "/other_member_ids"),
    ],
)
def test_a_malformed_cluster_decision_is_refused_and_changes_nothing(
    sessions: sessionmaker[Session],
    cluster: tuple[str, tuple[str, ...]],
    steward: httpx.Client,
    body: dict[str, Any],
    pointer: str,
) -> None:
    item_id, _ = cluster
    response = steward.post(
        f"/v1/review-items/{item_id}/decisions", json={"kind": "same_person", **body}
    )
    assert response.status_code == 422, response.text
    problem = response.json()
    assert pointer in [e["pointer"] for e in problem["errors"]]
    assert "NOPE" not in response.text  # no submitted value echoed
    assert _pairs(sessions) == set()
    assert steward.get(f"/v1/review-items/{item_id}").json()["status"] == "open"
