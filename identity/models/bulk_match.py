"""$bulk-member-match: a job (who asked, where it stands) and its members (each one's input until
it is matched, then its result).

The input is PHI (demographics, coverage, consent): it lives in this table only, and each
member's input is cleared in the transaction that stores its result. The result keeps a copy of
the submitted Patient (the output's contained resource) and, for a match, the match token the
requester collects from the output, sealed with the data key (AES-256-GCM, bound to job and
member) so no token is held in the clear, until the job is deleted or its retention ends.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from identity.models.base import Base, utcnow

# JSON whose Python None is SQL NULL (not JSON null), so a cleared input is really gone.
NullableJson = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


class BulkMatchJob(Base):
    __tablename__ = "bulk_match_job"
    __table_args__ = (Index(None, "status", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    client_id: Mapped[str] = mapped_column(String(64))
    # The organisation the client spoke for at kick-off: each consent's recipient is checked
    # against it, as for a single $member-match.
    organization_system: Mapped[str | None] = mapped_column(String(255))
    organization_value: Mapped[str | None] = mapped_column(String(128))
    request_id: Mapped[str | None] = mapped_column(String(64))  # the kick-off's, for the audit
    # queued -> running -> completed | failed (back to queued when its worker stops mid-job)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    total: Mapped[int] = mapped_column(Integer)
    processed: Mapped[int] = mapped_column(Integer, default=0)
    matched: Mapped[int] = mapped_column(Integer, default=0)
    not_matched: Mapped[int] = mapped_column(Integer, default=0)
    consent_constrained: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(String(48))  # an error code, never a value
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()
    expires_at: Mapped[datetime | None] = mapped_column()  # results deleted after this
    # The worker holding the job and until when: a lapsed lease means its worker died.
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column()


class BulkMatchMember(Base):
    __tablename__ = "bulk_match_member"

    job_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("bulk_match_job.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)  # the MemberBundle's position
    tenant_id: Mapped[str] = mapped_column(String(64))
    # The MemberBundle's parts as submitted; cleared when the member's result is stored.
    input: Mapped[list[Any] | None] = mapped_column(NullableJson)
    # match | nomatch | consentconstraint (PdexMultiMemberMatchResultCS); null until matched.
    result: Mapped[str | None] = mapped_column(String(24))
    outcome: Mapped[str | None] = mapped_column(String(32))  # matched, or the refusal's code
    match_id: Mapped[str | None] = mapped_column(String(36))
    token: Mapped[str | None] = mapped_column(String(128))
    patient: Mapped[dict[str, Any] | None] = mapped_column(NullableJson)  # the submitted Patient
