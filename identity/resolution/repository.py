"""All SQL about match decisions."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from identity.db import insert_row
from identity.models import MatchDecision


def add_decision(session: Session, decision: MatchDecision) -> None:
    """Written once, never changed: a Core INSERT (the object stays out of the session)."""
    insert_row(session, decision)


def get_decision(session: Session, tenant: str, match_id: str) -> MatchDecision | None:
    return session.scalar(
        select(MatchDecision).where(MatchDecision.tenant_id == tenant, MatchDecision.id == match_id)
    )
