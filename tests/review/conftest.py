"""Review items made directly in the database (a decision and its item, at a chosen age), and
actors for the people who work them."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from identity.audit.actor import Actor
from identity.db import transaction
from identity.models import MatchDecision, ReviewItem
from tests.conftest import TENANT

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
MakeItem = Callable[..., str]


def person(name: str, tenant: str = TENANT) -> Actor:
    return Actor(tenant=tenant, client_id=None, request_id=None, person=name)


@pytest.fixture
def make_item(sessions: sessionmaker[Session], active_policy: str) -> MakeItem:
    """An open review item `age` old with these candidates; returns its id."""

    def make(
        *,
        age: timedelta = timedelta(hours=1),
        reason: str = "ambiguous",
        candidates: Sequence[tuple[str, float | None]] = (("M1", 0.8), ("M2", 0.75)),
        fingerprint: str | None = None,
        tenant: str = TENANT,
    ) -> str:
        created = NOW - age
        match_id, item_id = str(uuid.uuid4()), str(uuid.uuid4())
        summary = [{"member_id": m, "status": "open", "probability": p} for m, p in candidates]
        with transaction(sessions) as session:
            session.add(
                MatchDecision(
                    id=match_id,
                    tenant_id=tenant,
                    created_at=created,
                    input_fingerprint=fingerprint or uuid.uuid4().hex,
                    policy_version=active_policy,
                    outcome="review",
                    stage="probabilistic",
                    reason=reason,
                    member_id=None,
                    probability=max((p or 0.0) for _, p in candidates) if candidates else None,
                    candidates=summary,
                    evidence={"decision": {"reason": reason}, "candidates": []},
                    timings_ms={},
                )
            )
            session.flush()
            session.add(
                ReviewItem(
                    id=item_id,
                    tenant_id=tenant,
                    match_id=match_id,
                    policy_version=active_policy,
                    reason=reason,
                    status="open",
                    candidates=summary,
                    created_at=created,
                )
            )
        return item_id

    return make
