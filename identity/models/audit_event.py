"""One audit event: who (client, tenant) did what (action, outcome) to which objects (ids only).

Append-only (database triggers refuse UPDATE and DELETE) and hash-chained per tenant: `seq` counts
a tenant's events gaplessly from 1 and `hash` covers `prev_hash` and every field but `id`, so an
edit, a deletion or a reordering shows up when the chain is walked (`identity audit verify`).
Identifiers only: no demographics ever reach this table.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from identity.models.base import Base, BigId, JsonDoc


class AuditEvent(Base):
    __tablename__ = "audit_event"
    # The unique key is also the export's keyset index (tenant, seq).
    __table_args__ = (UniqueConstraint("tenant_id", "seq"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(BigInteger)
    occurred_at: Mapped[datetime] = mapped_column()
    request_id: Mapped[str | None] = mapped_column(String(64))
    client_id: Mapped[str | None] = mapped_column(String(64))
    # The signed-in person (a steward's user name), when a person acted; hashed only when set.
    person: Mapped[str | None] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(48))  # match.create, review.read, auth.denied…
    outcome: Mapped[str] = mapped_column(String(16))  # success, denied, forbidden, not-found…
    http_status: Mapped[int | None] = mapped_column()
    object_type: Mapped[str | None] = mapped_column(String(32))
    object_ids: Mapped[list[str]] = mapped_column(JsonDoc)
    policy_version: Mapped[str | None] = mapped_column(String(120))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
