"""A registered client (a payer's backend system or a FHIR server) and the keys it signs with."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from identity.models.base import Base, JsonDoc, utcnow


class ApiClient(Base):
    __tablename__ = "api_client"
    __table_args__ = (Index(None, "tenant_id"),)

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    # The client's public JSON Web Key Set; its private keys never reach this service.
    jwks: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    scopes: Mapped[str] = mapped_column(String(512))  # space-separated, the most it may ask for
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    disabled_at: Mapped[datetime | None] = mapped_column()
    # The organisation it speaks for (e.g. an NPI): a consent's recipient must name it.
    organization_system: Mapped[str | None] = mapped_column(String(255))
    organization_value: Mapped[str | None] = mapped_column(String(128))
