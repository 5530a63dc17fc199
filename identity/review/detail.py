"""Everything a steward needs to decide one item, in one read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from identity.audit.actor import Actor
from identity.models import ReviewItem
from identity.review.decisions import ResolutionView
from identity.review.memory import RememberedView


@dataclass(frozen=True)
class ItemDetail:
    item: ReviewItem
    # The stored decision's full evidence (query, candidates with levels, weights, rules) and,
    # under "policy", the prior and thresholds the waterfall is drawn against.
    evidence: dict[str, Any]
    coverages: dict[str, list[dict[str, Any]]]  # member id -> coverage periods
    earlier: list[ResolutionView]  # decisions about the same members or the same fingerprint
    remembered: list[RememberedView]


def item_detail(session: Session, actor: Actor, item_id: str) -> ItemDetail:
    raise NotImplementedError
