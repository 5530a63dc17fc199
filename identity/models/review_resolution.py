"""A steward's decision on a review item, versioned: a new decision is a new row and the older
one is marked superseded, never overwritten, so an item's history can always be shown."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from identity.models.base import Base


class ReviewResolution(Base):
    __tablename__ = "review_resolution"
    __table_args__ = (
        UniqueConstraint("item_id", "version"),
        # Earlier decisions about a member, for the item page.
        Index(None, "tenant_id", "member_id"),
        Index(None, "tenant_id", "other_member_id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    item_id: Mapped[str] = mapped_column(String(36), ForeignKey("review_item.id"))
    version: Mapped[int] = mapped_column(Integer)  # 1, 2, … per item
    # link | keep_apart | new_person | same_person | not_same_person | escalate
    kind: Mapped[str] = mapped_column(String(16))
    member_id: Mapped[str | None] = mapped_column(String(64))
    other_member_id: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[str] = mapped_column(String(128))  # the person, or the client
    decided_by_role: Mapped[str] = mapped_column(String(16))  # steward | lead
    decided_at: Mapped[datetime] = mapped_column()
    superseded_at: Mapped[datetime | None] = mapped_column()
