"""A state-changing request's answer, kept under its caller's Idempotency-Key for 24 hours."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from identity.models.base import Base, utcnow


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_record"
    __table_args__ = (Index(None, "expires_at"),)

    # Keys are scoped per client: two clients may choose the same key without colliding.
    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    # Null while the first request is still running.
    status_code: Mapped[int | None] = mapped_column(Integer)
    content_type: Mapped[str | None] = mapped_column(String(100))
    body: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
