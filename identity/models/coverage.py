"""A member's coverage as loaded (subscriber id, relationship, period, payor)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Date, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from identity.models.base import Base, BigId


class Coverage(Base):
    __tablename__ = "coverage"
    __table_args__ = (Index(None, "member_pk"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    member_pk: Mapped[int] = mapped_column(BigId, ForeignKey("member.id", ondelete="CASCADE"))
    subscriber_id: Mapped[str | None] = mapped_column(String(64))
    relationship: Mapped[str | None] = mapped_column(String(32))
    period_start: Mapped[date | None] = mapped_column(Date)
    period_end: Mapped[date | None] = mapped_column(Date)
    payor: Mapped[str | None] = mapped_column(String(200))
