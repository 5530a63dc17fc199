"""Which client introspected which match token: a gate may report retrievals (POST
/v1/gate-events) only for tokens it introspected itself, so one holder of `tokens:introspect`
cannot write audit events about another's traffic. One row per (token, client), the first time."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from identity.models.base import Base


class TokenIntrospection(Base):
    __tablename__ = "token_introspection"

    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    token_id: Mapped[str] = mapped_column(String(36), primary_key=True)  # match_token.id
    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)  # the introspecting one
    first_at: Mapped[datetime] = mapped_column()
