"""POST /v1/gate-events records the reporting client from its token, and a client may report only
for match tokens it introspected itself: one holder of `tokens:introspect` cannot write audit
events in another's name. Over real HTTP on both databases."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from identity.auth.dev import mint_dev_token
from identity.config import Settings
from identity.db import transaction
from identity.models import AuditEvent, TokenIntrospection
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


def _gate_events(sessions: sessionmaker[Session]) -> list[AuditEvent]:
    with transaction(sessions) as session:
        return list(
            session.scalars(
                select(AuditEvent).where(AuditEvent.action.like("gate.%")).order_by(AuditEvent.seq)
            )
        )


def test_a_gate_reports_only_for_tokens_it_introspected(
    live_server: LiveServer, settings: Settings, sessions: sessionmaker[Session]
) -> None:
    issued = issue_token(sessions, client_id="payer-a")
    gate_a = mint_dev_token(
        settings, tenant=TENANT, client_id="gate-a", scopes={"tokens:introspect"}
    )
    gate_b = mint_dev_token(
        settings, tenant=TENANT, client_id="gate-b", scopes={"tokens:introspect"}
    )
    with live_server.client(gate_b) as http:
        # Before anyone introspected it, and then while only gate A has.
        before = http.post("/v1/gate-events", json=event(token_id=issued.token_id))
    with live_server.client(gate_a) as http:
        assert http.post("/v1/tokens/introspect", data={"token": issued.token}).json()["active"]
        assert http.post("/v1/gate-events", json=event(token_id=issued.token_id)).status_code == 204
    with live_server.client(gate_b) as http:
        after = http.post("/v1/gate-events", json=event(token_id=issued.token_id))
    for refused in (before, after):
        assert refused.status_code == 403, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["type"].endswith("/not-introspected")
    [recorded] = _gate_events(sessions)
    assert recorded.client_id == "gate-a"
    assert recorded.object_ids == [issued.token_id, "client:payer-a"]
    with transaction(sessions) as session:
        introspections = session.scalars(select(TokenIntrospection)).all()
        assert [(i.token_id, i.client_id) for i in introspections] == [(issued.token_id, "gate-a")]


def test_the_event_is_the_reporters_whatever_the_body_says(
    live_server: LiveServer, settings: Settings, sessions: sessionmaker[Session]
) -> None:
    """The body's client_id is what the event is about, never who recorded it."""
    gate_b = mint_dev_token(
        settings, tenant=TENANT, client_id="gate-b", scopes={"tokens:introspect"}
    )
    with live_server.client(gate_b) as http:
        r = http.post(
            "/v1/gate-events",
            json=event(allowed=False, http_status=401, reason="no-bearer", client_id="gate-a"),
        )
        assert r.status_code == 204, r.text
    [recorded] = _gate_events(sessions)
    assert (recorded.client_id, recorded.outcome) == ("gate-b", "denied")
    assert recorded.object_ids == ["client:gate-a"]


def test_an_inactive_token_introspected_can_be_reported(
    live_server: LiveServer, settings: Settings, sessions: sessionmaker[Session]
) -> None:
    """A gate that introspected a revoked token and refused the retrieval may say so."""
    issued = issue_token(sessions, client_id="payer-a")
    gate = mint_dev_token(settings, tenant=TENANT, client_id="gate-a", scopes={"tokens:introspect"})
    revoker = mint_dev_token(settings, tenant=TENANT, client_id="payer-a", scopes={"tokens:revoke"})
    with live_server.client(revoker) as http:
        assert http.post("/v1/tokens/revoke", data={"token": issued.token}).status_code == 200
    with live_server.client(gate) as http:
        assert http.post("/v1/tokens/introspect", data={"token": issued.token}).json() == {
            "active": False
        }
        refused = event(
            allowed=False, http_status=403, reason="inactive-match-token", token_id=issued.token_id
        )
        assert http.post("/v1/gate-events", json=refused).status_code == 204
