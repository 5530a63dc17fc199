"""POST /v1/gate-events on identity: what a gate may report, over real HTTP on both databases."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from identity.auth.dev import mint_dev_token
from identity.config import Settings
from identity.db import transaction
from identity.models import AuditEvent
from tests.conftest import TENANT, LiveServer
from tests.tokens.factories import issue_token


def event(**changes: Any) -> dict[str, Any]:
    return {
        "interaction": "read",
        "allowed": True,
        "http_status": 200,
        "reason": "allowed",
        "token_id": None,
        "client_id": "payer-a",
    } | changes


def test_reports(
    live_server: LiveServer, settings: Settings, sessions: sessionmaker[Session]
) -> None:
    issued = issue_token(sessions, client_id="payer-a")
    theirs = issue_token(sessions, client_id="payer-x", tenant="other-payer")
    gate = mint_dev_token(settings, tenant=TENANT, client_id="gate", scopes={"tokens:introspect"})
    payer = mint_dev_token(settings, tenant=TENANT, client_id="payer-a", scopes={"match"})
    with live_server.client(gate) as http:
        # A gate reports only for a token it introspected (tests/gate/test_gate_event_reporter.py).
        assert http.post("/v1/tokens/introspect", data={"token": issued.token}).status_code == 200
        ok = http.post("/v1/gate-events", json=event(token_id=issued.token_id))
        assert ok.status_code == 204, ok.text
        # Only a token the tenant issued can be named; another tenant's is unknown here.
        for token_id in (theirs.token_id, "no-such-token"):
            r = http.post("/v1/gate-events", json=event(token_id=token_id))
            assert r.status_code == 422
            assert token_id not in r.text
        # Codes only: free text, a path or an unknown field is refused.
        for bad in (
            event(reason="Jane Doe asked for Patient/123"),
            event(interaction="write"),
            event(path="/Patient/123"),
            event(http_status=99),
        ):
            assert http.post("/v1/gate-events", json=bad).status_code == 422
    with live_server.client(payer) as http:
        assert http.post("/v1/gate-events", json=event()).status_code == 403
    with transaction(sessions) as session:
        (recorded,) = session.scalars(
            select(AuditEvent).where(AuditEvent.action.like("gate.%"))
        ).all()
    # The event is the reporting gate's; the requesting client is what it is about.
    assert (recorded.client_id, recorded.outcome, recorded.object_ids) == (
        "gate",
        "success",
        [issued.token_id, "client:payer-a"],
    )
