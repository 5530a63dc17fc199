"""Group commit (identity/group_commit.py) on both databases: concurrent requests each get their
own committed decision and audit event, a unit that fails rolls back alone, the chain verifies."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import Request
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from identity import group_commit
from identity.api_deps import DbSession, JsonBody, in_match_thread
from identity.audit import service as audit
from identity.audit.actor import Actor
from identity.audit.http import request_actor
from identity.auth.dependencies import Matcher
from identity.auth.dev import mint_dev_token
from identity.config import Settings
from identity.db import bind_tenant
from identity.errors import FieldError, InvalidInput
from identity.models import AuditEvent, MatchDecision, ReviewItem
from identity.policy.cache import MatcherCache
from identity.resolution import service
from tests.conftest import TENANT, LiveServer
from tests.factories import fhir_coverage, fhir_patient

GIVEN = ["Ana", "Ben", "Cara", "Dev", "Eli", "Fay", "Gus", "Hal", "Ida", "Jo", "Kai", "Lin"]


def _body(i: int) -> dict[str, Any]:
    """A distinct person per i; every fourth is the household's Bill Chen on his card (a match)."""
    if i % 4 == 0:
        return {
            "patient": fhir_patient("Bill", "Chen", "1958-11-02"),
            "coverage": fhir_coverage("S200"),
        }
    return {
        "patient": fhir_patient(
            GIVEN[i % len(GIVEN)], f"Zed{i}", f"19{50 + i % 40}-0{1 + i % 9}-1{i % 10}"
        )
    }


@pytest.fixture
def grouped_server(settings: Settings, active_policy: str, household: None) -> Iterator[LiveServer]:
    with LiveServer(settings.model_copy(update={"group_commit": True})) as server:
        yield server


def _committer(server: LiveServer) -> group_commit.GroupCommitter:
    app: Any = server.server.config.app
    return group_commit.committer_for(app.state.session_factory)


def _match_events(sessions: sessionmaker[Session]) -> list[AuditEvent]:
    with sessions() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == "match.create")))


def test_concurrent_requests_each_commit_their_own_decision_and_event(
    grouped_server: LiveServer, settings: Settings, sessions: sessionmaker[Session]
) -> None:
    token = mint_dev_token(settings, tenant=TENANT, client_id="grouped")
    requests = 48
    with grouped_server.client(token) as http, ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda i: http.post("/v1/match", json=_body(i)), range(requests)))
    assert [a.status_code for a in answers] == [200] * requests, answers[0].text
    bodies = [a.json() for a in answers]
    ids = [b["match_id"] for b in bodies]
    assert len(set(ids)) == requests
    assert {b["outcome"] for b in bodies[::4]} == {"match"}

    committer = _committer(grouped_server)
    assert committer.units == requests  # every request went through the committer
    assert committer.groups <= requests

    with sessions() as session:
        stored = {
            d.id: d for d in session.scalars(select(MatchDecision).where(MatchDecision.id.in_(ids)))
        }
        items = {i.match_id: i for i in session.scalars(select(ReviewItem))}
        report = audit.verify(session, TENANT)
    assert set(stored) == set(ids)
    for body in bodies:
        decision = stored[body["match_id"]]
        assert (decision.outcome, decision.member_id) == (body["outcome"], body["member_id"])
        assert decision.probability == body["probability"]
        # The review item committed with its decision (one unit: both or neither).
        assert (body["match_id"] in items) == (body["outcome"] == "review")
        if body["outcome"] == "review":
            assert items[body["match_id"]].id == body["review_item_id"]
    events = _match_events(sessions)
    assert sorted(e.object_ids[0] for e in events) == sorted(ids)  # one event per request
    assert report.intact, report.breaks
    assert report.events >= requests


def test_a_request_with_an_idempotency_key_commits_on_its_own(
    grouped_server: LiveServer, settings: Settings, sessions: sessionmaker[Session]
) -> None:
    """Its transaction wrote (the key's claim) before the decision: not groupable, and it is
    stored and replayed as without grouping."""
    token = mint_dev_token(settings, tenant=TENANT, client_id="keyed")
    with grouped_server.client(token) as http:
        first = http.post("/v1/match", json=_body(1), headers={"Idempotency-Key": "k-1"})
        again = http.post("/v1/match", json=_body(1), headers={"Idempotency-Key": "k-1"})
        plain = http.post("/v1/match", json=_body(2))
    assert (first.status_code, again.status_code, plain.status_code) == (200, 200, 200)
    assert again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"
    assert _committer(grouped_server).units == 1  # the plain one only
    with sessions() as session:
        found = set(session.scalars(select(MatchDecision.id)))
        assert audit.verify(session, TENANT).intact
    assert {first.json()["match_id"], plain.json()["match_id"]} <= found


def _staged_match(sessions: sessionmaker[Session], i: int) -> tuple[group_commit.Unit, str]:
    """A real /v1/match unit of work, staged and handed over as the request edge does."""
    today = datetime.now(UTC).date()
    session = sessions()
    bind_tenant(session, TENANT)
    group_commit.allow(session)
    result = service.match(
        session,
        TENANT,
        MatcherCache(),
        service.parse_match_request(_body(i), today),
        today=today,
        actor=Actor(TENANT, "unit-test", f"req-{i}"),
    )
    unit = group_commit.hand_over(session)
    assert unit is not None
    with sessions() as other:  # nothing is stored before the committer commits it
        assert other.get(MatchDecision, result.decision.id) is None
    return unit, result.decision.id


@pytest.mark.usefixtures("active_policy", "household")
def test_a_failing_unit_rolls_back_alone(sessions: sessionmaker[Session]) -> None:
    (a, a_id), (b, b_id), (c, c_id) = (_staged_match(sessions, i) for i in (1, 2, 3))
    b.rows.append(a.rows[0])  # B also stages A's decision again: a primary-key violation
    committer = group_commit.GroupCommitter(sessions)
    committer.commit_group([a, b, c])

    assert a.done.result(timeout=0) is None
    assert c.done.result(timeout=0) is None
    with pytest.raises(IntegrityError):
        b.done.result(timeout=0)
    assert (committer.groups, committer.units) == (1, 2)
    with sessions() as session:
        stored = set(session.scalars(select(MatchDecision.id)))
        assert audit.verify(session, TENANT).intact
    assert {a_id, c_id} <= stored
    assert b_id not in stored  # B's own decision went with its failing row
    assert sorted(e.object_ids[0] for e in _match_events(sessions)) == sorted([a_id, c_id])


@pytest.mark.usefixtures("active_policy", "household")
def test_a_group_of_one_that_fails_stores_nothing(sessions: sessionmaker[Session]) -> None:
    (a, a_id), (b, b_id) = (_staged_match(sessions, i) for i in (5, 6))
    group_commit.GroupCommitter(sessions).commit_group([a])
    b.rows.append(a.rows[0])
    group_commit.GroupCommitter(sessions).commit_group([b])
    with pytest.raises(IntegrityError):
        b.done.result(timeout=0)
    with sessions() as session:
        stored = set(session.scalars(select(MatchDecision.id)))
        assert audit.verify(session, TENANT).intact
    assert a_id in stored
    assert b_id not in stored
    assert [e.object_ids[0] for e in _match_events(sessions)] == [a_id]


def test_outside_a_grouping_edge_nothing_is_staged(
    sessions: sessionmaker[Session], active_policy: str, household: None
) -> None:
    """The CLI, tests and workers: `stage` is a no-op, the session commits as ever."""
    today = datetime.now(UTC).date()
    with sessions() as session:
        bind_tenant(session, TENANT)
        result = service.match(
            session,
            TENANT,
            MatcherCache(),
            service.parse_match_request(_body(7), today),
            today=today,
            actor=Actor(TENANT, "cli", None),
        )
        session.commit()
    with sessions() as session:
        assert session.get(MatchDecision, result.decision.id) is not None
        assert audit.verify(session, TENANT).intact


def test_http_clients_see_nothing_different(grouped_server: LiveServer, settings: Settings) -> None:
    """A read-back of a grouped decision is the decision (answered only after its commit)."""
    token = mint_dev_token(settings, tenant=TENANT, client_id="reader")
    with grouped_server.client(token) as http:
        made = http.post("/v1/match", json=_body(0)).json()
        read = http.get(f"/v1/matches/{made['match_id']}")
    assert read.status_code == 200
    assert (read.json()["outcome"], read.json()["member_id"]) == (
        made["outcome"],
        made["member_id"],
    )


def _server_with(settings: Settings, after: Callable[[Session], None]) -> LiveServer:
    """The real app with one more route, POST /v1/test-match: a real /v1/match unit of work in the
    match thread (`in_match_thread`, which releases it), then `after(session)` on the loop."""
    server = LiveServer(settings.model_copy(update={"group_commit": True}))
    app: Any = server.server.config.app

    async def route(request: Request, caller: Matcher, body: JsonBody, session: DbSession) -> Any:
        def work() -> str:
            today = datetime.now(UTC).date()
            result = service.match(
                session,
                caller.tenant,
                request.app.state.matchers,
                service.parse_match_request(body, today),
                today=today,
                actor=request_actor(request, caller),
            )
            return result.decision.id

        made = await in_match_thread(request, session, work)
        after(session)
        return {"match_id": made}

    app.add_api_route("/v1/test-match", route, methods=["POST"])
    return server


def _refuse(_session: Session) -> None:
    raise InvalidInput("refused after the match", errors=[FieldError("", "refused")])


@pytest.mark.usefixtures("active_policy", "household")
def test_a_released_unit_is_not_stored_when_the_endpoint_then_fails(
    settings: Settings, sessions: sessionmaker[Session]
) -> None:
    """The match thread ended the transaction and took the unit; the endpoint failed after
    that: the unit is dropped, never committed, and the error answered as ever."""
    token = mint_dev_token(settings, tenant=TENANT, client_id="released")
    with _server_with(settings, _refuse) as server, server.client(token) as http:
        failed = http.post("/v1/test-match", json=_body(0))
        plain = http.post("/v1/match", json=_body(0))
        units = _committer(server).units
    assert (failed.status_code, plain.status_code) == (422, 200), failed.text
    assert failed.headers["content-type"] == "application/problem+json"
    assert units == 1  # the plain request's only
    with sessions() as session:
        stored = set(session.scalars(select(MatchDecision.id)))
        assert audit.verify(session, TENANT).intact
    assert stored == {plain.json()["match_id"]}
    assert [e.object_ids[0] for e in _match_events(sessions)] == [plain.json()["match_id"]]


@pytest.mark.usefixtures("household")
def test_patient_match_is_grouped_and_answered_after_its_commit(
    grouped_server: LiveServer, settings: Settings, sessions: sessionmaker[Session]
) -> None:
    """FHIR Patient/$match takes the same path as /v1/match: its unit released in the match
    thread, committed by the group committer, readable once answered."""
    token = mint_dev_token(settings, tenant=TENANT, client_id="fhir-grouped")
    body = {
        "resourceType": "Parameters",
        "parameter": [{"name": "resource", "resource": fhir_patient("Bill", "Chen", "1958-11-02")}],
    }
    headers = {"Content-Type": "application/fhir+json"}
    with grouped_server.client(token) as http:
        answers = [http.post("/fhir/Patient/$match", json=body, headers=headers) for _ in range(3)]
    assert [a.status_code for a in answers] == [200] * 3, answers[0].text
    assert _committer(grouped_server).units == 3
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(MatchDecision)) == 3
        assert audit.verify(session, TENANT).intact


def test_one_request_at_a_time_commits_in_its_own_thread_on_sqlite(
    grouped_server: LiveServer, settings: Settings, sessions: sessionmaker[Session]
) -> None:
    """With nothing else being written, a match's unit is committed in the match's thread on
    SQLite (no disk flush to wait for); on PostgreSQL the writer thread commits it. Either way
    each answer comes after its commit: the decision reads back at once."""
    token = mint_dev_token(settings, tenant=TENANT, client_id="quiet")
    with grouped_server.client(token) as http:
        made = [http.post("/v1/match", json=_body(i)).json() for i in range(6)]
        read = [http.get(f"/v1/matches/{m['match_id']}").status_code for m in made]
    committer = _committer(grouped_server)
    assert read == [200] * 6
    assert committer.units == 6
    sqlite = settings.database_url.startswith("sqlite")
    assert committer.in_place == (6 if sqlite else 0)
    with sessions() as session:
        assert audit.verify(session, TENANT).intact
    assert sorted(e.object_ids[0] for e in _match_events(sessions)) == sorted(
        m["match_id"] for m in made
    )
