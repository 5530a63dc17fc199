"""The set-based bulk path gives each member what a single $member-match gives it, on both
databases, through the real HTTP server: the same database is cloned after the members are
loaded; one copy answers the members one request at a time (POST /fhir/Patient/$member-match),
the other as one $bulk-member-match job. Compared member by member: the outcome code; and over the
whole run, everything written: decisions with their evidence, review items, stored requests,
tokens, the guard's attempts and the members' audit events in chain order.

The mix has every outcome, including repeats a batch must answer from what an earlier member of
the same batch wrote (a review item, the guard's attempts), and enough members that a helper
process takes a share of the deciding. Run as one batch and as batches of three (so the same
facts come from the database instead)."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fhir.resources.R4B.operationoutcome import OperationOutcome
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from identity.config import Settings
from identity.db import make_engine, make_session_factory
from identity.exchange.outcomes import MEMBER_MATCH_OUTCOMES
from identity.fhir.bulk_member_match import as_parameters
from identity.models import (
    AuditEvent,
    BulkMatchMember,
    MatchDecision,
    MatchToken,
    MemberMatchAttempt,
    MemberMatchRequest,
    ReviewItem,
)
from tests.bulkmatch.conftest import (
    bulk_request,
    example_bundle,
    kick_off,
    member_bundle,
    new_payer_token,
    part,
    wait_until_done,
)
from tests.conftest import TENANT, LiveServer, PostgresServer
from tests.factories import fhir_coverage, fhir_patient
from tests.households import HOME

pytestmark = pytest.mark.usefixtures("example_member", "household", "active_policy")

EXPIRED = {"start": "2023-12-01", "end": "2024-03-31"}
STRANGERS = 14  # enough, with the others, for a helper process's share (resolution.MIN_SHARE)


def _mixed() -> tuple[list[dict[str, Any]], list[str]]:
    """MemberBundles and the outcome each must get."""
    patricia = part(example_bundle(), "MemberPatient")
    maria = fhir_patient(
        "Maria", "Garcia", "1984-03-12", gender="female", ssn="372-45-6780", **HOME
    )
    chen = fhir_patient("William", "Chen", "1958-11-02")
    trish = fhir_patient("Trish", "Pearson", "1974-12-25", gender="female")
    no_birth_date = fhir_patient("Ada", "Lovelace", "1815-12-10", gender="female")
    del no_birth_date["birthDate"]
    cases = [
        (example_bundle(), "matched"),
        (member_bundle(maria, fhir_coverage("S100"), consent_period=EXPIRED), "consent-invalid"),
        (member_bundle(chen, fhir_coverage("S200")), "multiple-matches"),
        (
            member_bundle(fhir_patient("Zed", "Quorra", "1990-01-01"), fhir_coverage("NOPE-1")),
            "no-match",
        ),
        (member_bundle(no_birth_date, fhir_coverage("S777")), "insufficient-demographics"),
        (member_bundle(trish, fhir_coverage("UNKNOWN-CARD")), "pending-review"),
        # Repeats: answered from the review items the two before opened.
        (member_bundle(trish, fhir_coverage("UNKNOWN-CARD")), "pending-review"),
        (member_bundle(chen, fhir_coverage("S200")), "multiple-matches"),
        # Patricia's demographics with one card after another. Trish Pearson, born the same day,
        # is near-same (the family name's sound and the birth date; not the given name): with
        # her card and Patricia's own, A1 is the third card and A2 is refused. Her own card is
        # still welcome.
        (member_bundle(patricia, fhir_coverage("A1")), "matched"),
        (member_bundle(patricia, fhir_coverage("A2")), "too-many-attempts"),
        (example_bundle(), "matched"),
    ]
    cases += [
        (
            member_bundle(
                fhir_patient(f"Given{n}", f"Family{n}", f"1990-02-{n + 1:02d}"),
                fhir_coverage(f"C{n}"),
            ),
            "no-match",
        )
        for n in range(STRANGERS)
    ]
    return [b for b, _ in cases], [o for _, o in cases]


def _clone(
    settings: Settings, sessions: sessionmaker[Session], request: pytest.FixtureRequest, tmp: Path
) -> Iterator[Settings]:
    """A copy of the test's database as it is now, and settings pointing at it."""
    engine = sessions.kw["bind"]
    engine.dispose()  # PostgreSQL copies a database only while nobody is connected to it
    url = settings.database_url
    if url.startswith("sqlite"):
        twin = tmp / f"twin-{uuid.uuid4().hex[:8]}.db"
        with sqlite3.connect(url.removeprefix("sqlite:///")) as src, sqlite3.connect(twin) as dst:
            src.backup(dst)
        yield settings.model_copy(update={"database_url": f"sqlite:///{twin}"})
        return
    server: PostgresServer = request.getfixturevalue("postgres")
    source = url.rsplit("/", 1)[1]
    name = f"t_{uuid.uuid4().hex[:12]}"
    server.execute(f"CREATE DATABASE {name} TEMPLATE {source}")
    try:
        yield settings.model_copy(update={"database_url": server.url(name)})
    finally:
        server.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _code(r: httpx.Response) -> str:
    if r.status_code == 200:
        return "matched"
    OperationOutcome.model_validate(r.json())
    [coding] = r.json()["issue"][0]["details"]["coding"]
    assert coding["system"] == MEMBER_MATCH_OUTCOMES
    return str(coding["code"])


def _one_by_one(settings: Settings, bundles: list[dict[str, Any]]) -> list[str]:
    with LiveServer(settings) as server, server.client(new_payer_token(settings)) as http:
        return [
            _code(http.post("/fhir/Patient/$member-match", json=as_parameters(b["part"])))
            for b in bundles
        ]


def _as_a_job(settings: Settings, bundles: list[dict[str, Any]]) -> list[str]:
    with LiveServer(settings) as server, server.client(new_payer_token(settings)) as http:
        status_path = kick_off(http, bulk_request(*bundles))
        assert wait_until_done(http, status_path).status_code == 200
    job_id = status_path.rsplit("/", 1)[1]
    with _sessions(settings) as session:
        rows = session.execute(
            select(BulkMatchMember.seq, BulkMatchMember.outcome)
            .where(BulkMatchMember.job_id == job_id)
            .order_by(BulkMatchMember.seq)
        ).all()
    assert [seq for seq, _ in rows] == list(range(len(bundles)))
    return [str(outcome) for _, outcome in rows]


class _sessions:
    """A session on a database the test made, closed with its engine."""

    def __init__(self, settings: Settings) -> None:
        self.engine = make_engine(settings)

    def __enter__(self) -> Session:
        self.session = make_session_factory(self.engine)()
        return self.session

    def __exit__(self, *exc: object) -> None:
        self.session.close()
        self.engine.dispose()


def _written(settings: Settings) -> dict[str, Any]:
    """Everything the members' matching wrote, with generated ids and times replaced by what
    they stand for (a decision by its standardised input, a token by its member), so that two
    databases can be compared."""
    with _sessions(settings) as session:
        decisions = {d.id: d for d in session.scalars(select(MatchDecision))}
        items = {i.id: i for i in session.scalars(select(ReviewItem))}
        tokens = {t.id: t for t in session.scalars(select(MatchToken))}
        requests = list(session.scalars(select(MemberMatchRequest)))
        attempts = list(session.scalars(select(MemberMatchAttempt)))
        events = list(
            session.scalars(
                select(AuditEvent).where(AuditEvent.tenant_id == TENANT).order_by(AuditEvent.seq)
            )
        )

    def name(object_id: str) -> str:
        if object_id in decisions:
            return "decision:" + decisions[object_id].input_fingerprint
        if object_id in items:
            return "review:" + decisions[items[object_id].match_id].input_fingerprint
        if object_id in tokens:
            return "token:" + tokens[object_id].member_id
        return object_id  # our member ids

    def canonical(rows: list[Any]) -> list[str]:
        return sorted(orjson.dumps(r, option=orjson.OPT_SORT_KEYS).decode() for r in rows)

    member_events = []
    for e in events:
        action = e.action
        if action == "access.denied" and e.object_ids == ["POST /fhir/Patient/$member-match"]:
            # A single request the guard refuses is a 429, audited as a refused request; the
            # bulk worker records that member's refusal under the operation's name.
            action = "member-match.too-many-attempts"
        if action.startswith(("member-match.", "token.")):
            ids = [] if e.action == "access.denied" else [name(i) for i in e.object_ids]
            member_events.append((action, e.outcome, e.policy_version, ids))
    return {
        "decisions": canonical(
            [
                {
                    "fingerprint": d.input_fingerprint,
                    "policy": d.policy_version,
                    "outcome": d.outcome,
                    "stage": d.stage,
                    "reason": d.reason,
                    "member": d.member_id,
                    "probability": d.probability,
                    "candidates": d.candidates,
                    "evidence": d.evidence,
                    "timings": sorted(d.timings_ms),
                }
                for d in decisions.values()
            ]
        ),
        "review items": canonical(
            [
                {
                    "decision": name(i.match_id),
                    "status": i.status,
                    "reason": i.reason,
                    "policy": i.policy_version,
                    "candidates": i.candidates,
                }
                for i in items.values()
            ]
        ),
        "requests": canonical(
            [
                {"decision": name(r.match_id), "client": r.client_id, "consent": r.consent}
                for r in requests
            ]
        ),
        "tokens": canonical(
            [
                {
                    "decision": name(t.decision_id),
                    "member": t.member_id,
                    "patient": t.patient_id,
                    "client": t.client_id,
                    "category": t.consent_category,
                    "consent": [str(t.consent_start), str(t.consent_end)],
                    "policy": t.policy_version,
                    "lifetime_s": round((t.expires_at - t.issued_at).total_seconds(), -1),
                    "revoked": t.revoked_reason,
                }
                for t in tokens.values()
            ]
        ),
        "attempts": sorted(
            (a.client_id, a.demographics_key, a.card_key, a.person_key) for a in attempts
        ),
        "events": member_events,
    }


@pytest.mark.parametrize("batch_size", [250, 3], ids=["one batch", "batches of three"])
def test_a_job_answers_each_member_as_a_single_member_match_would(
    settings: Settings,
    sessions: sessionmaker[Session],
    request: pytest.FixtureRequest,
    tmp_path: Path,
    batch_size: int,
) -> None:
    bundles, expected = _mixed()
    single_db = _clone(settings, sessions, request, tmp_path)
    bulk_db = _clone(settings, sessions, request, tmp_path)
    single = next(single_db)
    bulk = next(bulk_db).model_copy(
        update={"bulk_match_batch_size": batch_size, "bulk_match_helper_processes": 1}
    )
    try:
        one_by_one = _one_by_one(single, bundles)
        as_a_job = _as_a_job(bulk, bundles)
        assert one_by_one == expected
        assert as_a_job == one_by_one

        by_single, by_bulk = _written(single), _written(bulk)
        assert len(by_single["decisions"]) == len(expected) - 4  # no decision: the repeats,
        # the member without a birth date and the one the guard refused
        assert len(by_single["tokens"]) == expected.count("matched")
        assert len(by_single["review items"]) == 2
        for kind in by_single:
            assert by_bulk[kind] == by_single[kind], kind
    finally:
        for clone in (single_db, bulk_db):
            clone.close()
