"""A match decision with its evidence; written once, read back by GET /v1/matches/{id}.

After the retention period (`identity purge`) the demographics in `evidence` (the query, each
candidate's record, the values compared) and the fingerprint derived from them are removed; ids,
outcome, reason, policy version, probabilities and rule names stay.

The `evidence` column holds the document compact (`identity.matching.evidence`, a `layout` key);
`MatchDecision.evidence` is the rendered document, what every reader shows. Code that needs the
column itself (SQL, a JSON path, an INSERT or UPDATE) names `stored_evidence`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from identity.matching.evidence_render import render_evidence
from identity.models.base import Base, JsonDoc, utcnow


class MatchDecision(Base):
    __tablename__ = "match_decision"
    __table_args__ = (
        Index(None, "tenant_id", "created_at"),
        # $member-match finds an earlier review of the same request by its fingerprint.
        Index(None, "tenant_id", "input_fingerprint"),
        # The retention purge walks a tenant's decisions not yet purged, oldest first.
        Index(
            "ix_match_decision_unpurged",
            "tenant_id",
            "created_at",
            "id",
            sqlite_where=text("purged_at IS NULL"),
            postgresql_where=text("purged_at IS NULL"),
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # sha256 over the standardised input: finds repeats without storing demographics twice.
    # Derived from demographics, so the purge empties it ("").
    input_fingerprint: Mapped[str] = mapped_column(String(64))
    policy_version: Mapped[str] = mapped_column(String(120), ForeignKey("policy_version.version"))
    outcome: Mapped[str] = mapped_column(String(16))
    stage: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(48))
    member_id: Mapped[str | None] = mapped_column(String(64))
    probability: Mapped[float | None] = mapped_column(Float)
    candidates: Mapped[list[Any]] = mapped_column(JsonDoc)
    # The column `evidence` as stored: compact (a `layout` key) or full (older and purged rows).
    stored_evidence: Mapped[dict[str, Any]] = mapped_column("evidence", JsonDoc)
    timings_ms: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    # When the retention purge removed the demographics; null while they are held.
    purged_at: Mapped[datetime | None] = mapped_column()
    # The client that asked (null for bulk jobs and decisions older than 0016): it may read the
    # decision's outcome back and hears of its review's settlement through its webhook.
    client_id: Mapped[str | None] = mapped_column(String(64))

    @property
    def evidence(self) -> dict[str, Any]:
        """The evidence document as `GET /v1/matches/{id}` shows it, rendered from the stored
        form once per instance (again only if `stored_evidence` is replaced). Read-only: a
        writer sets `stored_evidence`, so no SQL can name the rendered document by mistake."""
        stored = self.stored_evidence
        cached = self.__dict__.get("_rendered_evidence")
        if cached is not None and cached[0] is stored:
            return cached[1]  # type: ignore[no-any-return]
        rendered = render_evidence(stored)
        self.__dict__["_rendered_evidence"] = (stored, rendered)
        return rendered
