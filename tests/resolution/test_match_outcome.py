"""GET /v1/matches/{id} shows how a `review` was settled: to the client that asked (with the
`match` scope, minimal answer) and to `decisions:read` (whole decision); never who settled it.
Over real HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from identity.auth.dev import mint_dev_token
from identity.config import Settings
from identity.db import transaction
from identity.models import MatchDecision, ReviewItem
from tests.conftest import TENANT, LiveServer
from tests.factories import fhir_coverage, fhir_patient
from tests.webhooks.conftest import enrolled_twice

__all__ = ["enrolled_twice"]

REQUEST = {
    "patient": fhir_patient("William", "Chen", "1958-11-02"),
    "coverage": fhir_coverage("S200"),
}
STEWARD = "dana.steward"


def _client(
    live_server: LiveServer, settings: Settings, client_id: str, *scopes: str, tenant: str = TENANT
) -> httpx.Client:
    token = mint_dev_token(settings, tenant=tenant, client_id=client_id, scopes=list(scopes))
    return live_server.client(token)


@pytest.fixture
def payer(live_server: LiveServer, settings: Settings) -> Iterator[httpx.Client]:
    with _client(live_server, settings, "payer-a", "match") as c:
        yield c


def _settle(sessions: sessionmaker[Session], item_id: str, kind: str, member: str | None) -> None:
    """The item's current state as the review service leaves it after a decision."""
    with transaction(sessions) as session:
        session.execute(
            update(ReviewItem)
            .where(ReviewItem.id == item_id)
            .values(
                status="resolved",
                resolution=kind,
                resolved_member_id=member,
                resolved_by=STEWARD,
                resolved_at=datetime(2026, 12, 7, 12, 0, tzinfo=UTC),
            )
        )


@pytest.mark.usefixtures("enrolled_twice")
def test_the_client_that_asked_sees_its_review_settle(
    payer: httpx.Client,
    live_server: LiveServer,
    settings: Settings,
    sessions: sessionmaker[Session],
) -> None:
    answer = payer.post("/v1/match", json=REQUEST).json()
    assert answer["outcome"] == "review"
    match_id, item_id = answer["match_id"], answer["review_item_id"]
    with sessions() as session:
        assert session.get(MatchDecision, match_id).client_id == "payer-a"  # type: ignore[union-attr]

    before = payer.get(f"/v1/matches/{match_id}")
    assert before.status_code == 200, before.text
    assert before.json()["resolution"] == {
        "status": "open",
        "kind": None,
        "member_id": None,
        "resolved_at": None,
    }
    assert "evidence" not in before.json()

    _settle(sessions, item_id, "link", "M4")
    after = payer.get(f"/v1/matches/{match_id}")
    assert after.json()["resolution"] == {
        "status": "resolved",
        "kind": "link",
        "member_id": "M4",
        "resolved_at": "2026-12-07T12:00:00Z",
    }
    # The answer itself is the one /v1/match gave; only the resolution is new.
    assert {k: v for k, v in after.json().items() if k != "resolution"} == answer
    assert STEWARD not in after.text

    # A keep-apart names no member.
    _settle(sessions, item_id, "keep_apart", "M4")
    assert payer.get(f"/v1/matches/{match_id}").json()["resolution"]["member_id"] is None

    with _client(live_server, settings, "analyst", "decisions:read") as analyst:
        full = analyst.get(f"/v1/matches/{match_id}").json()
    assert full["resolution"]["kind"] == "keep_apart"
    assert "evidence" in full
    assert STEWARD not in str(full)


@pytest.mark.usefixtures("enrolled_twice")
def test_other_clients_need_decisions_read_and_other_tenants_see_nothing(
    payer: httpx.Client, live_server: LiveServer, settings: Settings
) -> None:
    match_id = payer.post("/v1/match", json=REQUEST).json()["match_id"]
    with _client(live_server, settings, "payer-b", "match") as other:
        # Another client's decision and no decision at all look the same: 403.
        assert other.get(f"/v1/matches/{match_id}").status_code == 403
        assert other.get("/v1/matches/no-such-decision").status_code == 403
    assert payer.get("/v1/matches/no-such-decision").status_code == 403
    with _client(live_server, settings, "payer-a", "match", tenant="other-payer") as stranger:
        assert stranger.get(f"/v1/matches/{match_id}").status_code == 403
    with _client(
        live_server, settings, "analyst", "decisions:read", tenant="other-payer"
    ) as analyst:
        assert analyst.get(f"/v1/matches/{match_id}").status_code == 404
