"""Audit fixtures: a recorded chain, and SQL run as a privileged attacker would run it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from identity.audit import service
from identity.audit.actor import Actor
from identity.db import transaction
from tests.conftest import TENANT

OTHER_TENANT = "other-payer"
# Names of the append-only triggers the migration creates on SQLite (PostgreSQL's are disabled).
SQLITE_TRIGGERS = (
    "audit_event_no_update",
    "audit_event_no_delete",
    "audit_chain_head_forward",
    "audit_chain_head_no_delete",
)


@dataclass(frozen=True)
class Recorded:
    """Ids of a tenant's recorded events, by seq (index 0 is seq 1)."""

    ids: list[int]

    def id_at(self, seq: int) -> int:
        return self.ids[seq - 1]


def actor(tenant: str = TENANT, client: str | None = "client-a", request: str = "r-1") -> Actor:
    return Actor(tenant=tenant, client_id=client, request_id=request)


@pytest.fixture
def recorded(sessions: sessionmaker[Session]) -> Recorded:
    """Six events of TENANT (one transaction each, like six requests) and two of another tenant."""
    ids = []
    for n in range(1, 7):
        with transaction(sessions) as session:
            event = service.record(
                session,
                actor(request=f"req-{n}"),
                action="decision.read",
                outcome="success",
                object_type="match_decision",
                object_ids=[f"match-{n}"],
                policy_version="default@1.1.0",
                http_status=200,
            )
            ids.append(event.id)
    for n in range(2):
        with transaction(sessions) as session:
            service.record(session, actor(OTHER_TENANT, request=f"o-{n}"), **_review_list())
    return Recorded(ids)


def _review_list() -> dict[str, Any]:
    return {"action": "review.list", "outcome": "success", "http_status": 200}


def as_db_owner(sessions: sessionmaker[Session], *statements: str, **params: Any) -> None:
    """Run SQL with the append-only triggers out of the way, as the database's owner (or anyone
    with enough privilege) could: what such a person changes, only the hash chain can reveal."""
    with transaction(sessions) as session:
        postgres = session.get_bind().dialect.name == "postgresql"
        if postgres:
            session.execute(text("ALTER TABLE audit_event DISABLE TRIGGER USER"))
            session.execute(text("ALTER TABLE audit_chain_head DISABLE TRIGGER USER"))
        else:
            for name in SQLITE_TRIGGERS:
                session.execute(text(f"DROP TRIGGER IF EXISTS {name}"))
        for statement in statements:
            session.execute(text(statement), params)
        if postgres:
            session.execute(text("ALTER TABLE audit_event ENABLE TRIGGER USER"))
            session.execute(text("ALTER TABLE audit_chain_head ENABLE TRIGGER USER"))
