"""The evidence column as stored, over real HTTP on both databases: a new decision stores the
compact form and `GET /v1/matches/{id}` shows it rendered whole; the query stays where SQL reads
it (`evidence["query"]`, training's JSON path); a row stored whole, as every row before the
compact layouts was, is shown as stored."""

from __future__ import annotations

import json
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import Table, select, update
from sqlalchemy.orm import Session, sessionmaker

from identity.db import tenant_transaction
from identity.matching.evidence_render import LAYOUT, render_evidence
from identity.models import MatchDecision
from identity.training.repository import iter_request_queries
from tests.conftest import TENANT
from tests.factories import fhir_coverage, fhir_patient


def _decide(client: httpx.Client) -> str:
    body = {
        "patient": fhir_patient("Bill", "Chen", "1958-11-02"),
        "coverage": fhir_coverage("S200"),
    }
    r = client.post("/v1/match", json=body)
    assert r.status_code == 200, r.text
    return str(r.json()["match_id"])


def _shown(client: httpx.Client, match_id: str) -> dict[str, Any]:
    r = client.get(f"/v1/matches/{match_id}")
    assert r.status_code == 200, r.text
    evidence: dict[str, Any] = r.json()["evidence"]
    return evidence


def _stored(sessions: sessionmaker[Session], match_id: str) -> dict[str, Any]:
    with tenant_transaction(sessions, TENANT) as session:
        stored: dict[str, Any] = session.scalar(
            select(MatchDecision.stored_evidence).where(MatchDecision.id == match_id)
        )
        return stored


@pytest.mark.usefixtures("household", "active_policy")
def test_a_decision_is_stored_compact_and_shown_whole(
    client: httpx.Client, sessions: sessionmaker[Session]
) -> None:
    match_id = _decide(client)
    stored = _stored(sessions, match_id)
    shown = _shown(client, match_id)
    assert stored["layout"] == LAYOUT
    assert all("fields" not in json.dumps(c) for c in stored["candidates"])
    assert len(orjson.dumps(stored)) < len(orjson.dumps(shown))
    # Shown whole, in the stored order: the renderer's document, per-field scores included.
    assert json.dumps(shown) == json.dumps(render_evidence(stored))
    assert "layout" not in shown
    assert "coverage_status" in shown
    [william] = [c for c in shown["candidates"] if c["member_id"] == "M3"]
    given = next(f for f in william["score"]["fields"] if f["comparison"] == "given_name")
    assert (given["left"], given["right"]) == ("BILL", "WILLIAM")
    # The query is still a top-level key: SQL's JSON path reads it from the compact form.
    with tenant_transaction(sessions, TENANT) as session:
        queries = {i: q for i, _, q in iter_request_queries(session, TENANT)}
    assert queries[match_id] == shown["query"]


@pytest.mark.usefixtures("household", "active_policy")
def test_a_compact_row_is_shown_as_the_same_row_stored_whole_is(
    client: httpx.Client, sessions: sessionmaker[Session]
) -> None:
    """The same decision stored whole, as the code before the compact layouts stored it (on
    PostgreSQL, JSONB then sorts every object's keys), is shown as stored: byte for byte, key
    order included, the document the compact row is shown as."""
    match_id = _decide(client)
    shown = client.get(f"/v1/matches/{match_id}").json()["evidence"]
    whole = render_evidence(_stored(sessions, match_id))
    table = MatchDecision.__table__
    assert isinstance(table, Table)
    with tenant_transaction(sessions, TENANT) as session:
        session.execute(update(table).where(table.c.id == match_id).values(evidence=whole))
    assert "layout" not in _stored(sessions, match_id)
    assert json.dumps(_shown(client, match_id)) == json.dumps(shown)
