"""Policy versions (immutable documents) and their activations per tenant."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from identity.models.base import Base, BigId, JsonDoc, utcnow


class PolicyVersion(Base):
    """A policy's content, stored once when first activated; never updated afterwards."""

    __tablename__ = "policy_version"

    version: Mapped[str] = mapped_column(String(120), primary_key=True)
    label: Mapped[str] = mapped_column(String(80))
    content_hash: Mapped[str] = mapped_column(String(64))
    source_text: Mapped[str] = mapped_column(Text)
    document: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PolicyActivation(Base):
    """Append-only history; a tenant's active policy is its latest activation."""

    __tablename__ = "policy_activation"
    __table_args__ = (Index(None, "tenant_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(String(120), ForeignKey("policy_version.version"))
    activated_at: Mapped[datetime] = mapped_column(default=utcnow)
