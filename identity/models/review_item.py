"""A decision a data steward must settle: a claim (who is working it, until when) and the current
resolution, denormalised from the newest row of `review_resolution` (the versioned history)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from identity.models.base import Base, JsonDoc, utcnow


class ReviewItem(Base):
    __tablename__ = "review_item"
    __table_args__ = (
        Index(None, "tenant_id", "status", "created_at"),
        Index(None, "match_id", unique=True),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    match_id: Mapped[str] = mapped_column(String(36), ForeignKey("match_decision.id"))
    policy_version: Mapped[str] = mapped_column(String(120))
    reason: Mapped[str] = mapped_column(String(48))
    # open -> resolved, or open -> escalated (a lead settles it) -> resolved. Who works on it is
    # the claim below, not the status: a claim lapses by time alone.
    status: Mapped[str] = mapped_column(String(16), default="open")
    # Candidate member ids with their probability and status, for the queue view.
    candidates: Mapped[list[Any]] = mapped_column(JsonDoc)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_by: Mapped[str | None] = mapped_column(String(128))
    claimed_at: Mapped[datetime | None] = mapped_column()
    # The claim's lease: past this moment the item reads as unclaimed (no job needs to run).
    claim_expires_at: Mapped[datetime | None] = mapped_column()
    assigned_by: Mapped[str | None] = mapped_column(String(128))  # the lead who assigned it
    # The current state, copied from the newest review_resolution (kind of decision).
    resolution: Mapped[str | None] = mapped_column(String(16))
    resolved_member_id: Mapped[str | None] = mapped_column(String(64))
    resolved_by: Mapped[str | None] = mapped_column(String(128))
    resolved_at: Mapped[datetime | None] = mapped_column()
    note: Mapped[str | None] = mapped_column(Text)
