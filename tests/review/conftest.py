"""Review items made directly in the database (a decision and its item, at a chosen age), and
actors for the people who work them."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from identity.audit.actor import Actor
from identity.db import transaction
from identity.member.service import load_members
from identity.models import MatchDecision, ReviewItem
from tests.conftest import TENANT
from tests.factories import fhir_coverage, fhir_patient

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
CHENS = {"patient": fhir_patient("Bill", "Chen", "1958-11-02"), "coverage": fhir_coverage("S200")}
TRISH = {
    "patient": fhir_patient("Trish", "Pearson", "1974-12-25", gender="female"),
    "coverage": fhir_coverage("UNKNOWN-CARD"),
}
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
                    stored_evidence={"decision": {"reason": reason}, "candidates": []},
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


@pytest.fixture
def members(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    """William Chen enrolled twice (M3, M4), and Patricia Person, whom "Trish Pearson" only
    resembles (the review band)."""
    resources = [
        fhir_patient("William", "Chen", "1958-11-02", member_id="M3", resource_id="p3"),
        fhir_coverage("S200", "Patient/p3"),
        fhir_patient("William", "Chen", "1958-11-02", member_id="M4", resource_id="p4"),
        fhir_coverage("S200", "Patient/p4"),
        fhir_patient(
            "Patricia",
            "Person",
            "1974-12-25",
            gender="female",
            member_id="DH10001235",
            resource_id="pat-1",
            street="12 Elm Street",
            zip_code="02143",
        ),
        fhir_coverage("S555", "Patient/pat-1"),
    ]
    path = tmp_path / "members.ndjson"
    path.write_text("".join(json.dumps(r) + "\n" for r in resources))
    with sessions() as session:
        assert load_members(session, TENANT, [path]).ok
        session.commit()
