"""The enrolment admin API over real HTTP on both databases: a delta applied through it stores
exactly what `load_members` in delta mode stores from the same resources; terminations and
reinstatements change coverage status once (the same call again writes nothing); erasure is the
CLI's erasure; bad input is a 422 that changes nothing; every change is audited by id."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from identity.auth.dev import mint_dev_token
from identity.config import Settings
from identity.db import transaction
from identity.member.service import LoadMode, load_members
from identity.models import AuditEvent, BlockingKey, Coverage, Member
from tests.conftest import TENANT, LiveServer
from tests.factories import fhir_coverage, fhir_patient

FEB = "2026-02-01"
OTHER = "cli-payer"  # the same resources loaded through the loader directly, for comparison


def _resources() -> list[dict[str, Any]]:
    ended = {
        **fhir_coverage("SA2", "Patient/a2"),
        "period": {"start": "2020-01-01", "end": "2025-06-30"},
    }
    return [
        fhir_patient("Avery", "Lindqvist", "1980-01-01", member_id="A1", resource_id="a1"),
        fhir_coverage("SA1", "Patient/a1"),
        fhir_patient("Bo", "Tanaka", "1971-03-09", member_id="A2", resource_id="a2"),
        ended,
        {
            **fhir_patient("Cy", "Mbeki", "1990-12-12", member_id="A3", resource_id="a3"),
            "active": False,
        },
    ]


def _admin(server: LiveServer, settings: Settings) -> httpx.Client:
    return server.client(mint_dev_token(settings, tenant=TENANT, client_id="ops", scopes={"admin"}))


def _stored(session: Session, tenant: str) -> dict[str, Any]:
    """Everything a load writes for a tenant, keyed by member id (no primary keys or times)."""
    members = session.scalars(select(Member).where(Member.tenant_id == tenant)).all()
    by_pk = {m.id: m.member_id for m in members}
    skip = {"id", "tenant_id", "created_at", "updated_at"}
    rows = {
        m.member_id: {
            c.key: getattr(m, c.key) for c in Member.__table__.columns if c.key not in skip
        }
        for m in members
    }
    keys = session.execute(
        select(BlockingKey.member_pk, BlockingKey.key).where(BlockingKey.tenant_id == tenant)
    )
    coverage = session.execute(
        select(
            Coverage.member_pk, Coverage.subscriber_id, Coverage.period_start, Coverage.period_end
        ).where(Coverage.tenant_id == tenant)
    )
    return {
        "members": rows,
        "keys": sorted((by_pk[pk], k) for pk, k in keys),
        "coverage": sorted((by_pk[pk], *rest) for pk, *rest in coverage),
    }


def _audited(session: Session, action: str) -> list[list[str]]:
    return [
        list(e.object_ids)
        for e in session.scalars(
            select(AuditEvent)
            .where(AuditEvent.tenant_id == TENANT, AuditEvent.action == action)
            .order_by(AuditEvent.seq)
        )
    ]


def _coverage(session: Session, member_id: str) -> list[tuple[Any, ...]]:
    rows = session.execute(
        select(Coverage.period_start, Coverage.period_end)
        .join(Member, Member.id == Coverage.member_pk)
        .where(Member.tenant_id == TENANT, Member.member_id == member_id)
    )
    return sorted((tuple(r) for r in rows), key=repr)


def test_a_delta_through_the_api_stores_what_the_loader_stores(
    live_server: LiveServer, settings: Settings, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    path = tmp_path / "delta.ndjson"
    path.write_text("".join(json.dumps(r) + "\n" for r in _resources()))
    with transaction(sessions) as session:
        direct = load_members(session, OTHER, [path], mode=LoadMode.DELTA, as_of=date(2026, 2, 1))
        assert direct.ok
    with _admin(live_server, settings) as http:
        body = {"as_of": FEB, "resources": _resources()}
        first = http.post("/v1/members/enrolment-changes", json=body)
        assert first.status_code == 200, first.text
        assert first.json() == {
            "read": 3,
            "inserted": 3,
            "updated": 0,
            "unchanged": 0,
            "left": 1,
            "member_ids": ["A1", "A2", "A3"],
        }
        again = http.post("/v1/members/enrolment-changes", json=body)
        assert again.status_code == 200, again.text
        assert (again.json()["inserted"], again.json()["unchanged"]) == (0, 3)
    with sessions() as session:
        assert _stored(session, TENANT) == _stored(session, OTHER)
        assert _coverage(session, "A3") == [(None, date(2026, 1, 31))]  # left: ends the day before
        assert _audited(session, "member.delta") == [["A1", "A2", "A3"]] * 2


def test_a_bad_delta_is_refused_whole_without_echoing_it(
    live_server: LiveServer, settings: Settings, sessions: sessionmaker[Session]
) -> None:
    nameless_id = fhir_patient("Dara", "Quill", "1985-05-05", resource_id="q1")  # no member id
    body = {"resources": [_resources()[0], nameless_id, {"resourceType": "Observation"}]}
    with _admin(live_server, settings) as http:
        r = http.post("/v1/members/enrolment-changes", json=body)
        assert r.status_code == 422, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert [e["pointer"] for e in r.json()["errors"]] == ["/resources/1", "/resources/2"]
        assert "Quill" not in r.text
        assert "Dara" not in r.text
        empty = http.post("/v1/members/enrolment-changes", json={"resources": []})
        assert empty.status_code == 422
    with sessions() as session:
        assert session.scalars(select(Member).where(Member.tenant_id == TENANT)).all() == []
        assert _audited(session, "member.delta") == []


def test_terminate_and_reinstate_change_coverage_status_once(
    live_server: LiveServer, settings: Settings, sessions: sessionmaker[Session]
) -> None:
    with _admin(live_server, settings) as http:
        loaded = http.post("/v1/members/enrolment-changes", json={"resources": _resources()[:2]})
        assert loaded.status_code == 200, loaded.text

        def call(verb: str, on: str) -> dict[str, Any]:
            r = http.post(f"/v1/members/A1/{verb}", json={"on": on})
            assert r.status_code == 200, r.text
            return dict(r.json())

        ended = {
            "member_id": "A1",
            "changed": True,
            "coverage_status": "ended-within-lookback",
            "terminated_on": "2026-02-28",
        }
        assert call("termination", "2026-03-01") == ended
        assert call("termination", "2026-03-01") == {**ended, "changed": False}
        with sessions() as session:
            assert _coverage(session, "A1") == [(None, date(2026, 2, 28))]

        back = {
            "member_id": "A1",
            "changed": True,
            "coverage_status": "current",
            "terminated_on": None,
        }
        assert call("reinstatement", "2026-05-01") == back
        assert call("reinstatement", "2026-05-01") == {**back, "changed": False}
        with sessions() as session:
            assert _coverage(session, "A1") == [(None, date(2026, 2, 28)), (date(2026, 5, 1), None)]

        # Absent body: today; an unknown member is a 404 with nothing written.
        assert http.post("/v1/members/A1/termination").json()["changed"] is True
        missing = http.post("/v1/members/NOPE/termination")
        assert missing.status_code == 404
        assert missing.headers["content-type"].startswith("application/problem+json")
        for on in ("May 1st", "0001-01-01", "9999-12-31"):
            wrong = http.post("/v1/members/A1/reinstatement", json={"on": on})
            assert wrong.status_code == 422, on
            assert wrong.json()["errors"][0]["pointer"] == "/body/on"
        early = {"resources": _resources()[:2], "as_of": "0001-01-01"}
        assert http.post("/v1/members/enrolment-changes", json=early).status_code == 422
    with sessions() as session:
        assert _audited(session, "member.terminate") == [["A1"]] * 3
        assert _audited(session, "member.reinstate") == [["A1"]] * 2


def test_erasure_is_the_clis_and_replays_under_its_idempotency_key(
    live_server: LiveServer, settings: Settings, sessions: sessionmaker[Session]
) -> None:
    with _admin(live_server, settings) as http:
        assert http.post(
            "/v1/members/enrolment-changes", json={"resources": _resources()}
        ).is_success
        headers = {"Idempotency-Key": "erase-a1-once"}
        first = http.post("/v1/members/A1/erasure", headers=headers)
        assert first.status_code == 200, first.text
        assert first.json() == {"member_id": "A1", "decisions_redacted": 0}
        replay = http.post("/v1/members/A1/erasure", headers=headers)
        assert replay.headers.get("idempotent-replayed") == "true"
        assert replay.json() == first.json()
        assert http.post("/v1/members/NOPE/erasure").status_code == 404
    with sessions() as session:
        a1 = session.scalars(select(Member).where(Member.member_id == "A1")).one()
        assert (a1.raw, a1.given, a1.family, a1.birth_date) == ({"erased": True}, None, None, None)
        keys = session.scalars(select(BlockingKey).where(BlockingKey.member_pk == a1.id)).all()
        assert keys == []
        assert _audited(session, "member.erase") == [["A1"]]  # the replay did not erase again


def test_only_admin_may_change_enrolment(live_server: LiveServer, settings: Settings) -> None:
    token = mint_dev_token(settings, tenant=TENANT, client_id="steward", scopes={"review", "match"})
    with live_server.client(token) as http:
        for path in ("enrolment-changes", "A1/termination", "A1/reinstatement", "A1/erasure"):
            assert http.post(f"/v1/members/{path}", json={"resources": [{}]}).status_code == 403
