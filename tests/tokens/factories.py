"""Issue match tokens straight into a test database, as $member-match will."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from identity.audit.actor import Actor
from identity.consent.evaluate import ConsentCategory, ConsentDecision
from identity.db import bind_tenant, transaction
from identity.tokens import service
from identity.tokens.service import IssuedToken
from tests.conftest import TENANT

POLICY_VERSION = "default@1.1.0+test"


def consent(
    category: ConsentCategory | None = "regular",
    start: date | None = date(2026, 1, 1),
    end: date | None = date(2030, 12, 31),
) -> ConsentDecision:
    return ConsentDecision(True, None, category, start, end)


def issue_token(
    sessions: sessionmaker[Session],
    *,
    client_id: str = "payer-a",
    member_id: str = "M1",
    patient_id: str | None = "p1",
    category: ConsentCategory | None = "regular",
    decision: ConsentDecision | None = None,
    decision_id: str | None = None,
    tenant: str = TENANT,
    now: datetime | None = None,
    lifetime: timedelta = timedelta(hours=1),
) -> IssuedToken:
    with transaction(sessions) as session:
        bind_tenant(session, tenant)
        return service.issue(
            session,
            Actor(tenant=tenant, client_id=client_id, request_id="req-issue"),
            client_id=client_id,
            member_id=member_id,
            patient_id=patient_id,
            consent=decision or consent(category),
            policy_version=POLICY_VERSION,
            decision_id=decision_id or str(uuid.uuid4()),
            now=now or datetime.now(UTC),
            max_lifetime=lifetime,
        )
