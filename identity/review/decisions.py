"""Steward decisions on review items, versioned: each is a new `review_resolution` row, the one
before it marked superseded; the item keeps the current state. Deciding also updates what the
service remembers for matching (identity/review/memory.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from identity.audit.actor import Actor
from identity.review.roles import Role

KINDS = ("link", "keep_apart", "new_person", "same_person", "not_same_person", "escalate")


@dataclass(frozen=True)
class StewardDecision:
    kind: str  # one of KINDS
    member_id: str | None = None  # link / keep_apart: the candidate; same_person: the survivor
    other_member_id: str | None = None  # same_person / not_same_person: the other record
    note: str | None = None


@dataclass(frozen=True)
class ResolutionView:
    id: str
    version: int
    kind: str
    member_id: str | None
    other_member_id: str | None
    note: str | None
    decided_by: str
    decided_at: datetime
    superseded: bool


def decide(
    session: Session,
    actor: Actor,
    item_id: str,
    decision: StewardDecision,
    *,
    role: Role,
    now: datetime,
) -> ResolutionView:
    raise NotImplementedError


def history(session: Session, actor: Actor, item_id: str) -> list[ResolutionView]:
    """Every version of the item's resolution, newest first."""
    raise NotImplementedError
