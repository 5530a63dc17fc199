"""A match decision with its evidence; written once, read back by GET /v1/matches/{id}."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from identity.models.base import Base, JsonDoc, utcnow


class MatchDecision(Base):
    __tablename__ = "match_decision"
    __table_args__ = (
        Index(None, "tenant_id", "created_at"),
        # $member-match finds an earlier review of the same request by its fingerprint.
        Index(None, "tenant_id", "input_fingerprint"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # sha256 over the standardised input: finds repeats without storing demographics twice.
    input_fingerprint: Mapped[str] = mapped_column(String(64))
    policy_version: Mapped[str] = mapped_column(String(120), ForeignKey("policy_version.version"))
    outcome: Mapped[str] = mapped_column(String(16))
    stage: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(48))
    member_id: Mapped[str | None] = mapped_column(String(64))
    probability: Mapped[float | None] = mapped_column(Float)
    candidates: Mapped[list[Any]] = mapped_column(JsonDoc)
    evidence: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    timings_ms: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
