"""Client assertion ids (`jti`) seen at the token endpoint, kept until the assertion expires, so
a replayed assertion is refused."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from identity.models.base import Base


class ClientAssertion(Base):
    __tablename__ = "client_assertion"
    __table_args__ = (Index(None, "expires_at"),)

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    jti: Mapped[str] = mapped_column(String(255), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column()
