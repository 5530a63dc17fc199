"""Erasing a member's demographics on both databases: the data goes (member row, blocking keys,
card ids, decisions' evidence), ids and the audit chain stay and still verify, and matching no
longer finds the member."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from identity.audit.actor import Actor
from identity.config import Settings
from identity.db import transaction
from identity.fhir.demographics import parse_patient, to_raw
from identity.matching.record import RawDemographics
from identity.member.service import load_members
from identity.models import AuditEvent, BlockingKey, Coverage, MatchDecision, Member
from identity.policy.cache import MatcherCache
from identity.resolution.service import match
from tests.conftest import TENANT
from tests.factories import fhir_coverage, fhir_patient
from tests.test_cli import run

ACTOR = Actor(tenant=TENANT, client_id="test-client", request_id=None)


def _raw() -> RawDemographics:
    body = fhir_patient("Imani", "Adeyemi", "1991-09-14", gender="female", zip_code="02139")
    patient, problems = parse_patient(body)
    assert patient is not None, problems
    return to_raw(patient)


def _load(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    resources = [
        fhir_patient(
            "Imani",
            "Adeyemi",
            "1991-09-14",
            gender="female",
            zip_code="02139",
            member_id="E1",
            resource_id="e1",
            ssn="123-45-6789",
            phone="617-555-0199",
        ),
        fhir_coverage("CARD-E1", "Patient/e1"),
        fhir_patient("Tomas", "Okonkwo", "1960-02-02", member_id="E2", resource_id="e2"),
    ]
    path = tmp_path / "m.ndjson"
    path.write_text("".join(json.dumps(r) + "\n" for r in resources))
    with transaction(sessions) as session:
        assert load_members(session, TENANT, [path]).ok


def _match(sessions: sessionmaker[Session], matchers: MatcherCache) -> MatchDecision:
    with transaction(sessions) as session:
        found = match(session, TENANT, matchers, _raw(), today=date.today(), actor=ACTOR)
        return found.decision


def test_erase_keeps_ids_and_audit_and_matching_no_longer_finds_the_member(
    settings: Settings, sessions: sessionmaker[Session], active_policy: str, tmp_path: Path
) -> None:
    _load(sessions, tmp_path)
    matchers = MatcherCache()
    before = _match(sessions, matchers)
    assert before.member_id == "E1"

    erased = run(settings, "members", "erase", "--tenant", TENANT, "E1", "NOPE")
    assert erased.returncode == 0, erased.stderr
    assert "erased 1 member(s); 1 decision(s) redacted" in erased.stdout
    assert "1 unknown" in erased.stderr
    assert "NOPE" not in erased.stderr + erased.stdout  # ids of people stay out of the output

    with sessions() as session:
        member = session.scalars(select(Member).where(Member.member_id == "E1")).one()
        assert (member.given, member.family, member.birth_date, member.ssn) == (None,) * 4
        assert (member.phone, member.zip5, member.extra) == (None, None, {})
        assert "Adeyemi" not in json.dumps(member.raw)
        assert session.scalar(select(func.count()).where(BlockingKey.member_pk == member.id)) == 0
        cards = session.scalars(
            select(Coverage.subscriber_id).where(Coverage.member_pk == member.id)
        )
        assert list(cards) == [None]  # the period stays, the card id goes
        other = session.scalars(select(Member).where(Member.member_id == "E2")).one()
        assert other.family == "OKONKWO"  # only the named member
        decision = session.get(MatchDecision, before.id)
        assert decision is not None
        assert decision.member_id == "E1"  # the decision and its ids stay
        assert decision.purged_at is not None
        assert "ADEYEMI" not in json.dumps(decision.evidence)
        [event] = session.scalars(select(AuditEvent).where(AuditEvent.action == "member.erase"))
        assert event.object_ids == ["E1"]

    verified = run(settings, "audit", "verify", "--tenant", TENANT)
    assert verified.returncode == 0, verified.stderr
    assert "intact" in verified.stdout

    after = _match(sessions, matchers)
    assert after.member_id is None
    assert after.outcome == "no_match"
    again = run(settings, "members", "erase", "--tenant", TENANT, "E1")
    assert "erased 1 member(s); 0 decision(s) redacted" in again.stdout
