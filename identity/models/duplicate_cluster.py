"""A cluster of member records `identity dedupe` found to be probably one person enrolled more
than once. Stewards work it as a review item of its own reason (`duplicate-enrolment`), whose
decision row carries the pair weights; this row remembers the exact set of members, so a rerun
that finds the same set again neither reopens a settled or dismissed item nor adds a second."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from identity.models.base import Base, JsonDoc, utcnow


class DuplicateCluster(Base):
    __tablename__ = "duplicate_cluster"
    __table_args__ = (Index(None, "tenant_id", "members_key", unique=True),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    # sha256 of the sorted member ids (identity.dedupe.clusters.cluster_key).
    members_key: Mapped[str] = mapped_column(String(64))
    member_ids: Mapped[list[Any]] = mapped_column(JsonDoc)
    size: Mapped[int] = mapped_column(Integer)
    best_probability: Mapped[float] = mapped_column(Float)
    policy_version: Mapped[str] = mapped_column(String(120))
    match_id: Mapped[str] = mapped_column(String(36), ForeignKey("match_decision.id"))
    review_item_id: Mapped[str] = mapped_column(String(36), ForeignKey("review_item.id"))
    found_at: Mapped[datetime] = mapped_column(default=utcnow)
