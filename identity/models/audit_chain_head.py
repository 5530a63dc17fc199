"""The last event of each tenant's audit chain, updated in the appending transaction.

Two jobs: its row is the lock that orders concurrent appends of one tenant (PostgreSQL), and it
remembers where the chain ends, so deleting the newest events (a truncated tail) is detected.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from identity.models.base import Base


class AuditChainHead(Base):
    __tablename__ = "audit_chain_head"

    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)  # 0 before the first event
    hash: Mapped[str] = mapped_column(String(64))
