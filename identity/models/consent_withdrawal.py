"""A member's withdrawal of consent, as the payer's consent system reported it: from then on no
match is answered for that member to that recipient (or to any, when none is named) unless the
Consent presented was given after it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from identity.models.base import Base


class ConsentWithdrawal(Base):
    __tablename__ = "consent_withdrawal"
    __table_args__ = (Index(None, "tenant_id", "member_id", "withdrawn_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    member_id: Mapped[str] = mapped_column(String(64))
    # The recipient organisation the member withdrew from; both NULL: every recipient.
    recipient_system: Mapped[str | None] = mapped_column(String(255))
    recipient_value: Mapped[str | None] = mapped_column(String(128))
    withdrawn_at: Mapped[datetime] = mapped_column()
    recorded_by: Mapped[str] = mapped_column(String(64))  # the client that reported it
    revoked_tokens: Mapped[int] = mapped_column()  # how many tokens it revoked (its answer)
