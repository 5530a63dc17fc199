"""All SQL about match decisions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from identity.models import MatchDecision


def add_decision(session: Session, decision: MatchDecision) -> None:
    session.add(decision)
    session.flush()


def get_decision(session: Session, tenant: str, match_id: str) -> MatchDecision | None:
    return session.scalar(
        select(MatchDecision).where(MatchDecision.tenant_id == tenant, MatchDecision.id == match_id)
    )


def add_decisions(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Many decisions in one executemany (Core insert: no ORM object per decision)."""
    if rows:
        session.execute(insert(MatchDecision), list(rows))
