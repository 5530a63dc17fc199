"""Response models of the review queue."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel


class ReviewItemView(BaseModel):
    id: str
    match_id: str
    status: Literal["open", "escalated", "resolved"]
    reason: str
    policy_version: str
    candidates: list[dict[str, Any]]
    created_at: datetime
    claimed_by: str | None
    resolution: str | None  # the current decision's kind
    resolved_member_id: str | None
    resolved_at: datetime | None


class ReviewItemPage(BaseModel):
    items: list[ReviewItemView]
    next_cursor: str | None


class ResolutionOut(BaseModel):
    """One version of an item's resolution."""

    id: str
    version: int
    kind: str
    member_id: str | None
    other_member_id: str | None
    note: str | None
    decided_by: str
    decided_at: datetime
    superseded: bool
    other_member_ids: list[str] = []  # same_person: every record paired with the survivor


class ResolutionHistory(BaseModel):
    item_id: str
    resolutions: list[ResolutionOut]  # newest first


class RememberedOut(BaseModel):
    """What the service answers without asking a steward again."""

    id: str
    kind: Literal["keep_apart", "link", "same_person"]
    member_id: str
    other_member_id: str | None
    resolution_id: str
    decided_by: str
    decided_at: datetime
    active: bool


class RememberedList(BaseModel):
    remembered: list[RememberedOut]


class ClaimState(BaseModel):
    """An item's claim: who holds it and until when (null: nobody, or the lease ran out)."""

    item_id: str
    status: Literal["open", "escalated", "resolved"]
    claimed_by: str | None
    claim_expires_at: datetime | None
    assigned_by: str | None
