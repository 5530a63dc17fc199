"""Every request that reads or changes member-related data, and every refusal, leaves exactly one
audit event: over real HTTP, on both databases, identifiers only, and the chain stays intact."""

from __future__ import annotations

import json

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from identity.audit.actor import UNAUTHENTICATED_TENANT
from identity.audit.service import verify
from identity.auth.dev import mint_dev_token
from identity.config import Settings
from identity.models import AuditEvent
from tests.conftest import TENANT, LiveServer
from tests.factories import fhir_coverage, fhir_patient

BILL = {"patient": fhir_patient("Bill", "Chen", "1958-11-02"), "coverage": fhir_coverage("S200")}


def events(sessions: sessionmaker[Session]) -> list[AuditEvent]:
    with sessions() as session:
        return list(session.scalars(select(AuditEvent).order_by(AuditEvent.id)))


@pytest.mark.usefixtures("household")
def test_match_read_and_review_are_each_audited_once(
    client: httpx.Client, sessions: sessionmaker[Session], active_policy: str
) -> None:
    made = client.post("/v1/match", json=BILL)
    decision = made.json()
    client.get(f"/v1/matches/{decision['match_id']}")
    client.get("/v1/review-items")
    trail = events(sessions)
    assert [(e.action, e.outcome) for e in trail] == [
        ("match.create", "success"),
        ("decision.read", "success"),
        ("review.list", "success"),
    ]
    created = trail[0]
    assert created.tenant_id == TENANT
    assert created.client_id == "test-client"
    assert created.request_id == made.headers["x-request-id"]
    assert created.policy_version == active_policy
    assert decision["match_id"] in created.object_ids
    assert decision["member_id"] in created.object_ids
    # Identifiers only: none of the submitted demographics.
    stored = json.dumps([e.object_ids for e in trail] + [e.action for e in trail]).upper()
    assert not {"CHEN", "BILL", "1958"} & set(stored.replace('"', " ").split())
    with sessions() as session:
        assert verify(session).intact


@pytest.mark.usefixtures("household")
def test_an_idempotent_replay_and_a_failed_request_write_no_event(
    client: httpx.Client, sessions: sessionmaker[Session]
) -> None:
    key = {"Idempotency-Key": "audit-once"}
    client.post("/v1/match", json=BILL, headers=key)
    client.post("/v1/match", json=BILL, headers=key)
    assert client.post("/v1/match", json={"patient": {}}).status_code == 422
    assert [e.action for e in events(sessions)] == ["match.create"]


def test_refusals_are_audited(settings: Settings, sessions: sessionmaker[Session]) -> None:
    """An authenticated caller's refusal is one event each; a caller that never authenticated is
    counted, and its refusals written as one aggregate event per source (here at shutdown;
    tests/audit/test_denial_aggregation.py has the rest)."""
    narrow = mint_dev_token(settings, tenant=TENANT, client_id="narrow", scopes={"match"})
    with LiveServer(settings) as server:
        with server.client() as anonymous, server.client(narrow) as limited:
            assert anonymous.get("/v1/review-items").status_code == 401
            assert limited.get("/v1/review-items").status_code == 403
        with server.client(mint_dev_token(settings, tenant=TENANT, client_id="c")) as http:
            assert http.get("/v1/matches/no-such-decision").status_code == 404
    trail = events(sessions)
    assert [(e.tenant_id, e.client_id, e.outcome, e.http_status) for e in trail] == [
        (TENANT, "narrow", "forbidden", 403),
        (TENANT, "c", "not-found", 404),
        (UNAUTHENTICATED_TENANT, None, "denied", 401),
    ]
    assert trail[2].action == "auth.denied"
    assert trail[2].object_ids[:2] == [trail[2].object_ids[0], "count:1"]
    assert trail[2].object_ids[0].startswith("source:")
    with sessions() as session:
        assert verify(session).intact


def test_rate_limited_requests_are_audited(
    settings: Settings, sessions: sessionmaker[Session]
) -> None:
    tight = settings.model_copy(
        update={"rate_limit_client_per_s": 0.1, "rate_limit_client_burst": 1}
    )
    token = mint_dev_token(settings, tenant=TENANT, client_id="hasty")
    with LiveServer(tight) as server, server.client(token) as http:
        assert [http.get("/v1/review-items").status_code for _ in range(2)] == [200, 429]
    assert [(e.action, e.outcome) for e in events(sessions)] == [
        ("review.list", "success"),
        ("access.denied", "rate-limited"),
    ]
