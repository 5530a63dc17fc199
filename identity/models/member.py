"""A tenant's member: raw demographics as loaded, and their standardised form beside them."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from identity.models.base import Base, BigId, JsonDoc, utcnow


class Member(Base):
    __tablename__ = "member"
    __table_args__ = (UniqueConstraint("tenant_id", "member_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    member_id: Mapped[str] = mapped_column(String(64))
    # sha256 of the raw record: a reload of an unchanged member is detected without a diff.
    content_hash: Mapped[str] = mapped_column(String(64))
    raw: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    # When the demographics were last erased on request (identity/member/erase.py); the view
    # member_lifecycle (migration 0021) shows it, with the last covered day, while still erased.
    erased_at: Mapped[datetime | None] = mapped_column()

    given: Mapped[str | None] = mapped_column(String(100))
    middle: Mapped[str | None] = mapped_column(String(200))
    family: Mapped[str | None] = mapped_column(String(100))
    suffix: Mapped[str | None] = mapped_column(String(8))
    given_phonetic: Mapped[str | None] = mapped_column(String(100))
    family_phonetic: Mapped[str | None] = mapped_column(String(100))
    birth_date: Mapped[date | None] = mapped_column(Date)
    sex: Mapped[str | None] = mapped_column(String(1))
    phone: Mapped[str | None] = mapped_column(String(20))
    email: Mapped[str | None] = mapped_column(String(254))
    address_line: Mapped[str | None] = mapped_column(String(200))
    unit: Mapped[str | None] = mapped_column(String(50))
    city: Mapped[str | None] = mapped_column(String(100))
    state: Mapped[str | None] = mapped_column(String(2))
    zip5: Mapped[str | None] = mapped_column(String(5))
    ssn: Mapped[str | None] = mapped_column(String(9))
    # Multi-valued standardised fields (family parts, earlier names, phones, ids, nickname forms).
    extra: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    # The standardised columns above as one compact array (identity/member/features.py),
    # written with them: candidate retrieval reads this column alone. NULL: read the columns.
    features: Mapped[str | None] = mapped_column(Text)

    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
