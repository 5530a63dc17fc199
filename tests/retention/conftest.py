"""Decisions of every kind the purge meets, some aged past the retention period."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from identity.audit.actor import Actor
from identity.db import transaction
from identity.models import IdempotencyRecord, MatchDecision, MemberMatchAttempt, ReviewItem
from identity.policy.cache import MatcherCache
from identity.resolution import service
from tests.conftest import TENANT
from tests.factories import fhir_coverage, fhir_patient

NOW = datetime.now(UTC)
OLD = NOW - timedelta(days=400)


@dataclass(frozen=True)
class Decisions:
    old_match: str
    recent_match: str
    old_open_review: str
    old_settled_review: str


def _match(sessions: sessionmaker[Session], body: dict[str, Any]) -> service.MatchResult:
    today = date.today()
    with transaction(sessions) as session:
        return service.match(
            session,
            TENANT,
            MatcherCache(),
            service.parse_match_request(body, today),
            today=today,
            actor=Actor(TENANT, "test-client", None),
        )


def _review(sessions: sessionmaker[Session], born: str) -> str:
    body = {"patient": fhir_patient("Maria", "Garcia", born, gender="female", phone="6175552368")}
    result = _match(sessions, body)
    assert result.decision.outcome == "review", result.decision.reason
    return result.decision.id


@pytest.fixture
def decisions(sessions: sessionmaker[Session], household: None, active_policy: str) -> Decisions:
    card = {
        "patient": fhir_patient("Bill", "Chen", "1958-11-02"),
        "coverage": fhir_coverage("S200"),
    }
    made = Decisions(
        old_match=_match(sessions, card).decision.id,
        recent_match=_match(sessions, card).decision.id,
        old_open_review=_review(sessions, "1990-07-01"),
        old_settled_review=_review(sessions, "1991-02-03"),
    )
    aged = [made.old_match, made.old_open_review, made.old_settled_review]
    with transaction(sessions) as session:
        session.execute(
            update(MatchDecision).where(MatchDecision.id.in_(aged)).values(created_at=OLD)
        )
        session.execute(
            update(ReviewItem)
            .where(ReviewItem.match_id == made.old_settled_review)
            .values(
                status="resolved",
                resolution="keep_apart",
                resolved_by="steward",
                resolved_at=OLD,
                note="called Maria Garcia on 617-555-2368",
            )
        )
        for key, expires in (
            ("gone", NOW - timedelta(hours=1)),
            ("live", NOW + timedelta(hours=1)),
        ):
            session.add(
                IdempotencyRecord(
                    tenant_id=TENANT,
                    client_id="test-client",
                    key=key,
                    request_hash="0" * 64,
                    status_code=200,
                    content_type="application/json",
                    body=b"sealed",
                    created_at=expires - timedelta(hours=24),
                    expires_at=expires,
                )
            )
        # The guard's window is an hour (IDENTITY_MEMBER_MATCH_WINDOW_S): one attempt past it.
        for at in (NOW - timedelta(hours=2), NOW - timedelta(minutes=5)):
            session.add(
                MemberMatchAttempt(
                    tenant_id=TENANT,
                    client_id="test-client",
                    demographics_key="d" * 64,
                    card_key="c" * 64,
                    person_key="p" * 64,
                    attempted_at=at,
                )
            )
    return made
