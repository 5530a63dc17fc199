"""Response models of the review queue."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel


class ReviewItemView(BaseModel):
    id: str
    match_id: str
    status: Literal["open", "claimed", "resolved"]
    reason: str
    policy_version: str
    candidates: list[dict[str, Any]]
    created_at: datetime
    claimed_by: str | None
    resolution: str | None
    resolved_member_id: str | None
    resolved_at: datetime | None


class ReviewItemPage(BaseModel):
    items: list[ReviewItemView]
    next_cursor: str | None
