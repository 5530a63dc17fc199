"""One row per (member, blocking key value).

A separate table rather than one column per key: a member can hold several values for one key
(earlier family names, several phones, several subscriber ids), and a policy can name new keys
without a migration. The primary key (tenant_id, key, member_pk) is itself the lookup index, so a
candidate query is an index-only range scan that reads tens of rows.
"""

from __future__ import annotations

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from identity.models.base import Base, BigId


class BlockingKey(Base):
    __tablename__ = "blocking_key"
    __table_args__ = (Index(None, "member_pk"),)

    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    # "<key name>:<value>", e.g. "dob_family_phonetic:1980-01-02|SNAT"
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    member_pk: Mapped[int] = mapped_column(
        BigId, ForeignKey("member.id", ondelete="CASCADE"), primary_key=True
    )
