"""What the service remembers of a steward's decision, so the same question is not asked twice:
for a standardised query fingerprint and a member, keep apart (never that member) or link (that
member, certainly). Matching reads these as data; an undo deactivates the row (a new versioned
fact is the resolution or the audit event that undid it), never deletes it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from identity.models.base import Base


class RememberedDecision(Base):
    __tablename__ = "remembered_decision"
    __table_args__ = (
        # Matching's one read: the active decisions for a fingerprint.
        Index(None, "tenant_id", "input_fingerprint", "active"),
        Index(None, "tenant_id", "member_id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    input_fingerprint: Mapped[str] = mapped_column(String(64))
    member_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # keep_apart | link
    resolution_id: Mapped[str] = mapped_column(String(36), ForeignKey("review_resolution.id"))
    decided_by: Mapped[str] = mapped_column(String(128))
    decided_at: Mapped[datetime] = mapped_column()
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    undone_by: Mapped[str | None] = mapped_column(String(128))
    undone_at: Mapped[datetime | None] = mapped_column()
