"""The reads behind the service-level indicators: counts and durations only, one tenant at a time
(the caller binds the session to the tenant, so PostgreSQL's row-level security admits its rows;
every query names the tenant too, for SQLite). Each read is bounded by a time window on an
indexed column, or walks the audit chain back from its head by (tenant, seq)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.orm import Session

from identity.dedupe import STAGE as DEDUPE_STAGE
from identity.models import (
    ApiClient,
    AuditEvent,
    BulkMatchJob,
    MatchDecision,
    RememberedDecision,
    ReviewItem,
    ReviewResolution,
)

# Decisions the engine made without a person (a steward's remembered decision is not "automatic").
AUTOMATIC_STAGES = ("deterministic", "probabilistic")
_AUDIT_PAGE = 2000


def client_tenants(session: Session) -> list[str]:
    """Tenants with registered clients (the client table is not tenant-scoped: the token
    endpoint reads it before it knows the tenant)."""
    return sorted(session.scalars(select(ApiClient.tenant_id).distinct()))


def decisions_by_outcome(session: Session, tenant: str, since: datetime) -> dict[str, int]:
    """Requests' decisions by outcome; dedupe's cluster decisions are no one's request."""
    rows = session.execute(
        select(MatchDecision.outcome, func.count())
        .where(
            MatchDecision.tenant_id == tenant,
            MatchDecision.created_at >= since,
            MatchDecision.stage != DEDUPE_STAGE,
        )
        .group_by(MatchDecision.outcome)
    )
    return {str(outcome): int(n) for outcome, n in rows}


def automatic_matches_overturned(session: Session, tenant: str, since: datetime) -> tuple[int, int]:
    """(automatic matches since `since`, of which a steward later kept the query apart from the
    matched member or linked it to another). The steward's decision is remembered by the query's
    fingerprint; a purged decision (fingerprint emptied) can no longer be compared and is left
    out of both counts."""
    d, r = MatchDecision, RememberedDecision
    automatic = and_(
        d.tenant_id == tenant,
        d.created_at >= since,
        d.outcome == "match",
        d.stage.in_(AUTOMATIC_STAGES),
        d.input_fingerprint != "",
    )
    overturned = exists().where(
        r.tenant_id == tenant,
        r.input_fingerprint == d.input_fingerprint,
        r.decided_at >= d.created_at,
        or_(
            and_(r.kind == "keep_apart", r.member_id == d.member_id),
            and_(r.kind == "link", r.member_id != d.member_id),
        ),
    )
    total = session.scalar(select(func.count()).select_from(d).where(automatic))
    undone = session.scalar(select(func.count()).select_from(d).where(automatic, overturned))
    return int(total or 0), int(undone or 0)


def resolution_waits(
    session: Session, tenant: str, since: datetime
) -> list[tuple[datetime, datetime]]:
    """(opened, first settled) of the review items first settled since `since` (an escalation
    hands an item on, it does not settle it)."""
    first = (
        select(ReviewResolution.item_id, func.min(ReviewResolution.decided_at).label("settled"))
        .where(ReviewResolution.tenant_id == tenant, ReviewResolution.kind != "escalate")
        .group_by(ReviewResolution.item_id)
        .subquery()
    )
    rows = session.execute(
        select(ReviewItem.created_at, first.c.settled)
        .join(first, first.c.item_id == ReviewItem.id)
        .where(ReviewItem.tenant_id == tenant, first.c.settled >= since)
    )
    return [(opened, settled) for opened, settled in rows]


def decision_ids(session: Session, tenant: str, since: datetime) -> set[str]:
    return set(
        session.scalars(
            select(MatchDecision.id).where(
                MatchDecision.tenant_id == tenant, MatchDecision.created_at >= since
            )
        )
    )


def audited_ids(session: Session, tenant: str, since: datetime) -> set[str]:
    """Every id named by the tenant's audit events since `since`, read back from the chain's head
    by sequence number (the (tenant, seq) index) until an older event."""
    found: set[str] = set()
    before: int | None = None
    while True:
        query = select(AuditEvent.seq, AuditEvent.occurred_at, AuditEvent.object_ids).where(
            AuditEvent.tenant_id == tenant
        )
        if before is not None:
            query = query.where(AuditEvent.seq < before)
        rows = list(session.execute(query.order_by(AuditEvent.seq.desc()).limit(_AUDIT_PAGE)))
        for seq, occurred_at, ids in rows:
            if _naive(occurred_at) < _naive(since):
                return found
            found.update(str(i) for i in ids or ())
            before = int(seq)
        if len(rows) < _AUDIT_PAGE:
            return found


def bulk_jobs_by_status(session: Session, tenant: str) -> dict[str, int]:
    rows = session.execute(
        select(BulkMatchJob.status, func.count())
        .where(BulkMatchJob.tenant_id == tenant)
        .group_by(BulkMatchJob.status)
    )
    return {str(status): int(n) for status, n in rows}


def _naive(moment: datetime) -> datetime:
    """SQLite hands back naive UTC datetimes; compare both sides without a zone."""
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo is not None else moment
