"""Two member records a steward found to be one person (a duplicate enrolment, for enrolment
staff to merge): while active, a match certain of both is answered with the surviving record."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from identity.models.base import Base


class SamePersonPair(Base):
    __tablename__ = "same_person_pair"
    __table_args__ = (
        Index(None, "tenant_id", "member_id", "active"),
        Index(None, "tenant_id", "other_member_id", "active"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    member_id: Mapped[str] = mapped_column(String(64))  # the surviving record
    other_member_id: Mapped[str] = mapped_column(String(64))
    resolution_id: Mapped[str] = mapped_column(String(36), ForeignKey("review_resolution.id"))
    decided_by: Mapped[str] = mapped_column(String(128))
    decided_at: Mapped[datetime] = mapped_column()
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    undone_by: Mapped[str | None] = mapped_column(String(128))
    undone_at: Mapped[datetime | None] = mapped_column()
