"""What the service remembers of stewards' decisions, and the one read matching makes of it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from identity.audit.actor import Actor
from identity.review.roles import Role


@dataclass(frozen=True)
class RememberedView:
    id: str
    kind: str  # keep_apart | link | same_person
    member_id: str
    other_member_id: str | None
    resolution_id: str
    decided_by: str
    decided_at: datetime
    active: bool


def remembered(
    session: Session, actor: Actor, *, member_id: str | None = None
) -> list[RememberedView]:
    raise NotImplementedError


def undo_remembered(
    session: Session, actor: Actor, remembered_id: str, *, role: Role, now: datetime
) -> RememberedView:
    raise NotImplementedError
