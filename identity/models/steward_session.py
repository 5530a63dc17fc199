"""A person's sign-in to the stewards' workbench (/review), and the one-time development sign-in
links that start one. Only hashes of the secrets are stored: a copy of the table signs nobody in."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from identity.models.base import Base


class StewardSession(Base):
    __tablename__ = "steward_session"
    __table_args__ = (Index(None, "tenant_id", "last_seen_at"),)

    # SHA-256 of the cookie's secret, hex.
    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    person: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column()
    last_seen_at: Mapped[datetime] = mapped_column()
    # The synchronizer token's secret: every form carries it; a POST without it is refused.
    csrf_secret: Mapped[str] = mapped_column(String(64))
    ended_at: Mapped[datetime | None] = mapped_column()


class SignInLink(Base):
    __tablename__ = "steward_sign_in_link"

    # SHA-256 of the link's single-use code, hex.
    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    person: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column()
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column()
