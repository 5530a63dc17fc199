"""A given-name pair a steward's link taught: the request's given name and the linked member's,
when no nickname or diminutive source already made them equivalent. Matching uses a pair once
the policy's `given_name_equivalences` says so (enough distinct members linked with it); a newer
decision on the item or an undo of the link deactivates the row, never deletes it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from identity.models.base import Base


class LearnedGivenName(Base):
    __tablename__ = "learned_given_name"
    __table_args__ = (
        # Matching's one read: the active pairs naming the queries' given names.
        Index(None, "tenant_id", "request_given", "active"),
        Index(None, "tenant_id", "member_given", "active"),
        Index(None, "tenant_id", "resolution_id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    # Standardised given names (upper-case ASCII), as the decision's evidence compared them.
    request_given: Mapped[str] = mapped_column(String(100))
    member_given: Mapped[str] = mapped_column(String(100))
    # The linked member's recorded sex (M/F/O), null when unknown: a pair serves that sex only.
    sex: Mapped[str | None] = mapped_column(String(1))
    member_id: Mapped[str] = mapped_column(String(64))
    resolution_id: Mapped[str] = mapped_column(String(36), ForeignKey("review_resolution.id"))
    decided_by: Mapped[str] = mapped_column(String(128))
    decided_at: Mapped[datetime] = mapped_column()
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    undone_by: Mapped[str | None] = mapped_column(String(128))
    undone_at: Mapped[datetime | None] = mapped_column()
