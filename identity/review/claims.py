"""Claims: a steward holds an item for a while (a lease). An expired lease reads as unclaimed,
so nothing has to run for a claim to lapse. Claiming is one conditional UPDATE, so two stewards
never hold the same item, on either database."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from identity.audit.actor import Actor
from identity.models import ReviewItem
from identity.review.roles import Role

DEFAULT_LEASE_S = 1800


def claim(
    session: Session,
    actor: Actor,
    item_id: str,
    *,
    now: datetime,
    role: Role = Role.STEWARD,
    lease_s: int = DEFAULT_LEASE_S,
) -> ReviewItem:
    raise NotImplementedError


def claim_next(
    session: Session,
    actor: Actor,
    *,
    now: datetime,
    role: Role = Role.STEWARD,
    lease_s: int = DEFAULT_LEASE_S,
) -> ReviewItem | None:
    raise NotImplementedError


def release(
    session: Session, actor: Actor, item_id: str, *, now: datetime, role: Role = Role.STEWARD
) -> ReviewItem:
    raise NotImplementedError


def assign(
    session: Session,
    actor: Actor,
    item_id: str,
    *,
    to_person: str,
    now: datetime,
    role: Role = Role.STEWARD,
    lease_s: int = DEFAULT_LEASE_S,
) -> ReviewItem:
    raise NotImplementedError
