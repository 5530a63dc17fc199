"""The queue a steward works: open items oldest first, filtered, keyset-paged, with counts by
age bucket against the tenant's service level (SLA)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from identity.audit import service as audit
from identity.audit.actor import Actor
from identity.errors import FieldError, InvalidInput
from identity.models import ReviewItem
from identity.review import repository
from identity.review.claims import aware, holder
from identity.review.cursor import decode_cursor, encode_cursor
from identity.review.roles import who

AGE_BUCKETS = ("<1d", "1-3d", "3-7d", ">7d")
# The bucket's age bounds in days: (younger than, at least).
_BUCKET_DAYS: dict[str, tuple[int | None, int | None]] = {
    "<1d": (1, None),
    "1-3d": (3, 1),
    "3-7d": (7, 3),
    ">7d": (None, 7),
}
CLAIM_STATES = ("unclaimed", "mine", "claimed")
DEFAULT_SLA_HOURS = 72.0


@dataclass(frozen=True)
class QueueFilters:
    reason: str | None = None
    age_bucket: str | None = None  # one of AGE_BUCKETS
    claim: str | None = None  # one of CLAIM_STATES
    policy_version: str | None = None


@dataclass(frozen=True)
class QueueRow:
    item_id: str
    match_id: str
    created_at: datetime
    age_s: float
    reason: str
    best_probability: float | None
    candidate_count: int
    claimed_by: str | None  # None when unclaimed or the claim lapsed
    claim_expires_at: datetime | None
    overdue: bool
    status: str


@dataclass(frozen=True)
class QueuePage:
    rows: list[QueueRow]
    counts_by_age: dict[str, int]
    overdue: int
    sla_hours: float
    next_cursor: str | None
    reasons: list[str]
    policy_versions: list[str]


def _check(filters: QueueFilters) -> None:
    errors = []
    if filters.age_bucket is not None and filters.age_bucket not in AGE_BUCKETS:
        errors.append(FieldError("/age_bucket", f"one of {', '.join(AGE_BUCKETS)}"))
    if filters.claim is not None and filters.claim not in CLAIM_STATES:
        errors.append(FieldError("/claim", f"one of {', '.join(CLAIM_STATES)}"))
    for name, value in (("reason", filters.reason), ("policy_version", filters.policy_version)):
        if value is not None and not 0 < len(value) <= 120:
            errors.append(FieldError(f"/{name}", "1 to 120 characters"))
    if errors:
        raise InvalidInput("the queue filters are not valid", errors=errors)


def _row(item: ReviewItem, now: datetime, sla: timedelta) -> QueueRow:
    created = aware(item.created_at) or now
    held = holder(item, now)
    probabilities = [
        float(p) for c in item.candidates if isinstance(p := c.get("probability"), int | float)
    ]
    return QueueRow(
        item_id=item.id,
        match_id=item.match_id,
        created_at=created,
        age_s=max(0.0, (now - created).total_seconds()),
        reason=item.reason,
        best_probability=max(probabilities) if probabilities else None,
        candidate_count=len(item.candidates),
        claimed_by=held,
        claim_expires_at=aware(item.claim_expires_at) if held else None,
        overdue=now - created > sla,
        status=item.status,
    )


def queue(
    session: Session,
    actor: Actor,
    filters: QueueFilters,
    *,
    cursor: str | None,
    limit: int,
    now: datetime,
    sla_hours: float = DEFAULT_SLA_HOURS,
) -> QueuePage:
    """A page of the open (and escalated) items, oldest first; audited as a read of the queue.
    The counts cover the whole open queue, whatever the filters."""
    _check(filters)
    if not 1 <= limit <= 500:
        raise InvalidInput("limit out of range", errors=[FieldError("/limit", "1 to 500")])
    younger, older = _BUCKET_DAYS.get(filters.age_bucket or "", (None, None))
    query = repository.QueueQuery(
        reason=filters.reason,
        created_after=now - timedelta(days=younger) if younger is not None else None,
        created_before=now - timedelta(days=older) if older is not None else None,
        claim=filters.claim,
        holder=who(actor),
        policy_version=filters.policy_version,
    )
    after = decode_cursor(cursor) if cursor else None
    items = repository.queue_items(
        session, actor.tenant, query, now=now, after=after, limit=limit + 1
    )
    more = len(items) > limit
    items = items[:limit]
    sla = timedelta(hours=sla_hours)
    # Bounds newest first: < 1 day, < 3 days, < 7 days.
    bounds = [now - timedelta(days=d) for d in (1, 3, 7)]
    counts, overdue, reasons, versions = repository.open_counts(
        session, actor.tenant, bounds, overdue_before=now - sla
    )
    audit.record(
        session,
        actor,
        action="review.list",
        outcome="success",
        object_type="review_item",
        object_ids=[i.id for i in items],
    )
    return QueuePage(
        rows=[_row(i, now, sla) for i in items],
        counts_by_age=dict(zip(AGE_BUCKETS, counts, strict=True)),
        overdue=overdue,
        sla_hours=sla_hours,
        next_cursor=encode_cursor(items[-1]) if more and items else None,
        reasons=reasons,
        policy_versions=versions,
    )
