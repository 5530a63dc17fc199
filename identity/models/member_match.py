"""$member-match bookkeeping: every attempt (for the brute-force guard) and, per decision, the
consent it was asked under (so a pending request can be finished after a steward's review)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from identity.models.base import Base, BigId, JsonDoc, utcnow


class MemberMatchAttempt(Base):
    __tablename__ = "member_match_attempt"
    __table_args__ = (
        Index(None, "tenant_id", "client_id", "demographics_key", "attempted_at"),
        # The guard forgets a client's attempts older than its window: a range, not a scan.
        Index(None, "tenant_id", "client_id", "attempted_at"),
        # The second count: the people (names, birth date) tried with one card.
        Index(None, "tenant_id", "client_id", "card_key", "attempted_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    client_id: Mapped[str] = mapped_column(String(64))
    # Hashes, not values: near-same demographics (family name's sound, birth date) share a key;
    # the card key names the ids tried; the person key the exact names and birth date.
    demographics_key: Mapped[str] = mapped_column(String(64))
    card_key: Mapped[str] = mapped_column(String(64))
    person_key: Mapped[str] = mapped_column(String(64))
    attempted_at: Mapped[datetime] = mapped_column(default=utcnow)


class MemberMatchRequest(Base):
    __tablename__ = "member_match_request"

    match_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    client_id: Mapped[str] = mapped_column(String(64))
    # The consent's evaluation (ok, reason, category, period): never the Consent resource.
    consent: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
