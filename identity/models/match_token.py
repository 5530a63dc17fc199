"""A match token: what a confident, consented match gives the requesting payer, stored only as a
hash, with everything it is bound to. Rows are never deleted by the service: a revoked or expired
token stays, so an old audit event's token id still resolves to what it allowed."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from identity.models.base import Base


class MatchToken(Base):
    __tablename__ = "match_token"
    __table_args__ = (
        Index(None, "token_hash", unique=True),
        Index(None, "tenant_id", "member_id"),
        Index(None, "tenant_id", "decision_id"),
    )

    # The token's public id: what audit events and logs name, never the token itself.
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    # SHA-256 of the token, hex; the token is never stored.
    token_hash: Mapped[str] = mapped_column(String(64))
    client_id: Mapped[str] = mapped_column(String(64))  # the requesting client it was issued to
    member_id: Mapped[str] = mapped_column(String(64))
    patient_id: Mapped[str | None] = mapped_column(String(64))  # the FHIR Patient id, if known
    consent_category: Mapped[str] = mapped_column(String(16))  # regular | sensitive
    consent_start: Mapped[date | None] = mapped_column(Date)
    consent_end: Mapped[date | None] = mapped_column(Date)
    policy_version: Mapped[str] = mapped_column(String(120))
    decision_id: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[datetime] = mapped_column()
    expires_at: Mapped[datetime] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()
    revoked_reason: Mapped[str | None] = mapped_column(String(32))
