"""The retention purge on both databases: old decisions lose their demographics and keep what
was decided; recent ones and those a steward still reviews are kept; the audit chain holds; a
second run and a dry run change nothing."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from identity.audit import service as audit
from identity.config import Settings
from identity.db import transaction
from identity.errors import Conflict
from identity.matching.policy import find_policy
from identity.models import (
    AuditEvent,
    IdempotencyRecord,
    MatchDecision,
    MemberMatchAttempt,
    ReviewItem,
    SignInLink,
    StewardSession,
    WebhookDelivery,
)
from identity.policy import service as policy_service
from identity.policy.cache import MatcherCache
from identity.resolution import service
from identity.resolution.replay import replay
from identity.resolution.schemas import StoredMatchResponse
from identity.retention.service import purge
from identity.training import repository as training_data
from tests.conftest import RULES_DIR, TENANT
from tests.factories import fhir_patient
from tests.retention.conftest import OLD, Decisions

# Values of the household's records and of the queries below, standardised as stored.
DEMOGRAPHICS = ["WILLIAM", "BILL", "CHEN", "MARIA", "GARCIA", "1958-11-02", "1984-03-12"]
DEMOGRAPHICS += ["1990-07-01", "1991-02-03", "6175552368", "ORCHARD", "372456780", "02143"]


def _snapshot(sessions: sessionmaker[Session]) -> dict[str, Any]:
    """Everything the purge may change, and the audit trail's length."""
    with sessions() as session:
        rows = session.execute(
            select(
                MatchDecision.id,
                MatchDecision.stored_evidence,
                MatchDecision.input_fingerprint,
                MatchDecision.purged_at,
            )
        ).all()
        notes = session.execute(select(ReviewItem.match_id, ReviewItem.note)).all()
        keys = session.scalars(select(IdempotencyRecord.key)).all()
        attempts = session.scalars(select(MemberMatchAttempt.attempted_at)).all()
        events = session.scalars(select(AuditEvent.id)).all()
    return {
        "decisions": {r[0]: (r[1], r[2], r[3]) for r in rows},
        "notes": {m: n for m, n in notes},
        "idempotency": sorted(keys),
        "attempts": len(attempts),
        "events": len(events),
    }


def _decision(sessions: sessionmaker[Session], match_id: str) -> MatchDecision:
    with sessions() as session:
        found = session.get(MatchDecision, match_id)
        assert found is not None
        session.expunge(found)
        return found


def _found(document: Any, values: Sequence[str]) -> list[str]:
    text = json.dumps(document).upper()
    return [v for v in values if v in text]


def _retention_events(sessions: sessionmaker[Session]) -> list[AuditEvent]:
    with sessions() as session:
        events = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "retention.purge").order_by(AuditEvent.id)
        ).all()
        session.expunge_all()
        return list(events)


def test_purge_removes_old_demographics_and_keeps_the_decision(
    sessions: sessionmaker[Session], settings: Settings, decisions: Decisions
) -> None:
    # Batches of one: the walk goes past the open review and through every due decision.
    one_by_one = settings.model_copy(update={"retention_batch_size": 1})
    before = _snapshot(sessions)
    old = _decision(sessions, decisions.old_match)
    assert _found(old.evidence, DEMOGRAPHICS)  # the values are there to be purged

    # A dry run counts and changes nothing, not even the audit trail.
    dry = purge(sessions, one_by_one, tenant=TENANT, older_than_days=365, dry_run=True)
    [counted] = dry.tenants
    assert (counted.decisions, counted.review_notes, counted.idempotency_records) == (2, 1, 1)
    assert counted.guard_attempts == 1
    assert counted.kept_for_review == 1
    assert _snapshot(sessions) == before

    report = purge(sessions, one_by_one, tenant=TENANT, older_than_days=365)
    [done] = report.tenants
    assert (done.decisions, done.review_notes, done.idempotency_records) == (2, 1, 1)
    assert done.guard_attempts == 1
    assert done.kept_for_review == 1

    after = _snapshot(sessions)
    for kept in (decisions.recent_match, decisions.old_open_review):
        assert after["decisions"][kept] == before["decisions"][kept]
    assert after["idempotency"] == ["live"]
    assert after["attempts"] == 1
    assert after["notes"][decisions.old_settled_review] is None

    for purged_id in (decisions.old_match, decisions.old_settled_review):
        purged = _decision(sessions, purged_id)
        assert purged.purged_at is not None
        assert purged.input_fingerprint == ""
        assert _found(purged.evidence, DEMOGRAPHICS) == []
        assert "query" not in purged.evidence
        assert purged.evidence["purged"] is True

    # What was decided and why stays: ids, outcome, reason, policy, probabilities, rules.
    purged = _decision(sessions, decisions.old_match)
    for field in ("outcome", "stage", "reason", "member_id", "probability", "policy_version"):
        assert getattr(purged, field) == getattr(old, field)
    assert purged.candidates == old.candidates
    assert purged.evidence["decision"] == old.evidence["decision"]
    for was, now in zip(old.evidence["candidates"], purged.evidence["candidates"], strict=True):
        assert (now["member_id"], now["status"], now["rules"]) == (
            was["member_id"],
            was["status"],
            was["rules"],
        )
        assert "record" not in now
        if was["score"] is not None:
            assert now["score"]["probability"] == was["score"]["probability"]
            assert [f["weight"] for f in now["score"]["fields"]] == [
                f["weight"] for f in was["score"]["fields"]
            ]

    # The stored decision still reads, saying when it was purged.
    stored = StoredMatchResponse.from_result(service.MatchResult(purged, None))
    assert stored.purged_at is not None
    assert stored.input_fingerprint is None

    # One audit event per run, counts only; the chain verifies.
    [event] = _retention_events(sessions)
    assert event.tenant_id == TENANT
    assert "decisions:2" in event.object_ids
    assert "idempotency-records:1" in event.object_ids
    assert "guard-attempts:1" in event.object_ids
    assert _found(event.object_ids, DEMOGRAPHICS) == []
    with sessions() as session:
        assert audit.verify(session).intact

    # A second run finds nothing due and writes nothing.
    again = purge(sessions, one_by_one, tenant=TENANT, older_than_days=365)
    assert [t.changed for t in again.tenants] == [0]
    assert _snapshot(sessions) == after


def test_one_tenant_or_every_tenant(
    sessions: sessionmaker[Session], settings: Settings, decisions: Decisions
) -> None:
    other = "other-payer"
    with transaction(sessions) as session:
        policy_service.activate(session, other, find_policy(RULES_DIR, "default"))
    today = date.today()
    with transaction(sessions) as session:
        body = {"patient": fhir_patient("Quinn", "Abernathy", "1999-09-09")}
        raw = service.parse_match_request(body, today)
        theirs = service.match(session, other, MatcherCache(), raw, today=today).decision.id
        session.execute(
            update(MatchDecision).where(MatchDecision.id == theirs).values(created_at=OLD)
        )

    mine = purge(sessions, settings, tenant=TENANT)
    assert [(t.tenant, t.decisions) for t in mine.tenants] == [(TENANT, 2)]
    assert _decision(sessions, theirs).purged_at is None

    every = purge(sessions, settings)
    # Ours still holds the open review's decision (kept), theirs is purged now.
    assert [(t.tenant, t.decisions, t.kept_for_review) for t in every.tenants] == [
        (other, 1, 0),
        (TENANT, 0, 1),
    ]
    assert _decision(sessions, theirs).purged_at is not None
    assert [e.tenant_id for e in _retention_events(sessions)] == [TENANT, other]


def test_a_purged_decision_cannot_be_replayed(
    sessions: sessionmaker[Session], settings: Settings, decisions: Decisions, active_policy: str
) -> None:
    purge(sessions, settings, tenant=TENANT)
    with transaction(sessions) as session:
        with pytest.raises(Conflict, match="purged"):
            replay(session, TENANT, decisions.old_match, active_policy)
        kept = replay(session, TENANT, decisions.recent_match, active_policy)
    assert kept.replayed.decision.outcome.value == "match"


def test_training_reads_only_the_queries_still_stored(
    sessions: sessionmaker[Session], settings: Settings, decisions: Decisions
) -> None:
    with sessions() as session:
        before = training_data.count_requests(session, TENANT)
    purge(sessions, settings, tenant=TENANT)
    with sessions() as session:
        after = training_data.count_requests(session, TENANT)
        read = [match_id for match_id, _, _ in training_data.iter_request_queries(session, TENANT)]
    assert (before, after) == (4, 2)  # the old match and the settled review were purged
    assert decisions.old_match not in read
    assert set(read) == {decisions.recent_match, decisions.old_open_review}


def test_old_deliveries_sessions_and_sign_in_links_are_forgotten(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    """Past the cutoff: finished webhook deliveries, workbench sessions last seen then, sign-in
    links expired then. A pending delivery, however old, and recent rows stay."""
    now = datetime.now(UTC)

    def delivery(key: str, created: datetime, finished: datetime | None) -> WebhookDelivery:
        status = "pending" if finished is None else "delivered"
        return WebhookDelivery(
            id=key, tenant_id=TENANT, client_id="hooked", event="review.settled",
            payload={"match_id": key}, created_at=created, status=status,
            next_attempt_at=created, finished_at=finished,
        )  # fmt: skip

    def steward_session(key: str, seen: datetime) -> StewardSession:
        return StewardSession(
            id_hash=key, tenant_id=TENANT, person="dana", role="steward", created_at=seen,
            last_seen_at=seen, csrf_secret="x" * 32,
        )  # fmt: skip

    def link(key: str, expires: datetime) -> SignInLink:
        return SignInLink(
            code_hash=key, tenant_id=TENANT, person="dana", role="steward",
            created_at=expires - timedelta(minutes=15), expires_at=expires,
        )  # fmt: skip

    with transaction(sessions) as session:
        session.add_all(
            [
                delivery("old-done", OLD, OLD),
                delivery("old-pending", OLD, None),
                delivery("recent-done", now, now),
                steward_session("old-session", OLD),
                steward_session("recent-session", now),
                link("old-link", OLD),
                link("recent-link", now + timedelta(minutes=10)),
            ]
        )
    dry = purge(sessions, settings, tenant=TENANT, older_than_days=365, dry_run=True)
    expected = (("webhook-deliveries", 1), ("steward-sessions", 1), ("sign-in-links", 1))
    assert dry.tenants[0].old_rows == expected
    [done] = purge(sessions, settings, older_than_days=365).tenants  # every tenant due: this one
    assert (done.tenant, done.old_rows) == (TENANT, expected)
    with sessions() as session:
        assert sorted(session.scalars(select(WebhookDelivery.id))) == ["old-pending", "recent-done"]
        assert list(session.scalars(select(StewardSession.id_hash))) == ["recent-session"]
        assert list(session.scalars(select(SignInLink.code_hash))) == ["recent-link"]
    [event] = _retention_events(sessions)
    assert {"webhook-deliveries:1", "steward-sessions:1", "sign-in-links:1"} <= set(
        event.object_ids
    )
    assert [t.changed for t in purge(sessions, settings, older_than_days=365).tenants] == []
