"""What a lead sees of the review work: the queue's age against the SLA target, what each steward
settled over the last week, how often a link was later undone, and the oldest open items.

Read-only counts: the queue from `review_item` (its status is the item's current state; the
(tenant, status, created_at) index answers), the week's work from `review_resolution` (every
version of every decision). A few aggregate queries, so the lead page stays cheap however long
the queue. Ids and user names only, no demographics.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, case, func, literal_column, select, text
from sqlalchemy.orm import Session, aliased

from identity.models import ReviewItem, ReviewResolution

# The age buckets of the queue, youngest first (the same labels as the queue page's filter).
AGE_BUCKETS: tuple[tuple[str, timedelta | None], ...] = (
    ("<1d", timedelta(days=1)),
    ("1-3d", timedelta(days=3)),
    ("3-7d", timedelta(days=7)),
    (">7d", None),
)
# Unsettled: open, or escalated to a lead (a claim is a lease, not a status).
SETTLED = "resolved"


def _unsettled() -> ColumnElement[bool]:
    """`status <> 'resolved'` with the literal inline, as the partial index
    `ix_review_item_unsettled` states it: a bound parameter would hide from SQLite's planner that
    the index applies."""
    return ReviewItem.status != literal_column(f"'{SETTLED}'")


DEFAULT_SLA_HOURS = 24.0
WINDOW = timedelta(days=7)
OLDEST_SHOWN = 10


@dataclass(frozen=True)
class OldItem:
    item_id: str
    match_id: str
    created_at: datetime
    age_s: float
    reason: str
    claimed_by: str | None


@dataclass(frozen=True)
class StewardCount:
    steward: str
    kind: str
    count: int


@dataclass(frozen=True)
class LeadSummary:
    open_total: int
    counts_by_age: dict[str, int]  # bucket label -> open items, every bucket present
    overdue: int  # open items older than the SLA target
    sla_hours: float
    oldest_age_s: float | None
    resolutions: list[StewardCount]  # settled in the window, by steward and kind
    links: int  # links made in the window
    links_undone: int  # of those, later changed to something else
    overturn_rate: float | None  # links_undone / links; None without links
    oldest: list[OldItem]
    since: datetime


def lead_summary(
    session: Session, tenant: str, *, now: datetime, sla_hours: float = DEFAULT_SLA_HOURS
) -> LeadSummary:
    """The lead page's numbers for one tenant at `now`."""
    counts = _counts_by_age(session, tenant, now)
    overdue = _count_older(session, tenant, now - timedelta(hours=sla_hours))
    oldest = _oldest(session, tenant, now)
    since = now - WINDOW
    resolutions = _resolutions(session, tenant, since)
    links, undone = _links_undone(session, tenant, since)
    return LeadSummary(
        open_total=sum(counts.values()),
        counts_by_age=counts,
        overdue=overdue,
        sla_hours=sla_hours,
        oldest_age_s=oldest[0].age_s if oldest else None,
        resolutions=resolutions,
        links=links,
        links_undone=undone,
        overturn_rate=undone / links if links else None,
        oldest=oldest,
        since=since,
    )


def age_bucket_bounds(now: datetime) -> list[tuple[str, datetime | None, datetime | None]]:
    """(label, created after, created at or before) per bucket; None is unbounded."""
    bounds: list[tuple[str, datetime | None, datetime | None]] = []
    newer: datetime | None = None
    for label, age in AGE_BUCKETS:
        older = now - age if age is not None else None
        bounds.append((label, older, newer))
        newer = older
    return bounds


def _open(tenant: str) -> list[ColumnElement[bool]]:
    return [ReviewItem.tenant_id == tenant, _unsettled()]


def _bucket(now: datetime) -> ColumnElement[str]:
    whens = [
        (ReviewItem.created_at > after, label)
        for label, after, _ in age_bucket_bounds(now)
        if after is not None
    ]
    return case(*whens, else_=AGE_BUCKETS[-1][0])


@dataclass(frozen=True)
class OpenAge:
    """One tenant's unsettled items by age bucket, and its oldest one's age (for the metrics)."""

    tenant: str
    counts: dict[str, int]
    oldest_age_s: float


def open_age_by_tenant(session: Session, *, now: datetime) -> list[OpenAge]:
    """Every tenant's unsettled queue by age. On PostgreSQL through a SECURITY DEFINER function
    (row-level security shows the application role one tenant at a time); counts only."""
    if session.get_bind().dialect.name == "postgresql":
        rows = list(
            session.execute(text("SELECT * FROM identity_review_open_age(:at)"), {"at": now})
        )
    else:
        bucket = _bucket(now)
        rows = list(
            session.execute(
                select(ReviewItem.tenant_id, bucket, func.count(), func.min(ReviewItem.created_at))
                .where(_unsettled())
                .group_by(ReviewItem.tenant_id, bucket)
            )
        )
    found: dict[str, OpenAge] = {}
    for tenant, label, count, oldest in rows:
        age = max(0.0, (now - _aware(_as_datetime(oldest), now)).total_seconds())
        prior = found.get(tenant)
        counts = dict(prior.counts) if prior else {}
        counts[str(label)] = int(count)
        found[tenant] = OpenAge(tenant, counts, max(age, prior.oldest_age_s if prior else 0.0))
    return [found[t] for t in sorted(found)]


def _as_datetime(value: object) -> datetime:
    """SQLite's min() over a datetime column answers its text."""
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def _counts_by_age(session: Session, tenant: str, now: datetime) -> dict[str, int]:
    bucket = _bucket(now)
    rows = session.execute(select(bucket, func.count()).where(*_open(tenant)).group_by(bucket))
    counts = {label: 0 for label, _ in AGE_BUCKETS}
    for label, count in rows:
        counts[str(label)] = int(count)
    return counts


def _count_older(session: Session, tenant: str, before: datetime) -> int:
    query = select(func.count()).where(*_open(tenant), ReviewItem.created_at < before)
    return int(session.scalar(query) or 0)


def _oldest(session: Session, tenant: str, now: datetime) -> list[OldItem]:
    rows = session.scalars(
        select(ReviewItem)
        .where(*_open(tenant))
        .order_by(ReviewItem.created_at, ReviewItem.id)
        .limit(OLDEST_SHOWN)
    )
    return [
        OldItem(
            item_id=i.id,
            match_id=i.match_id,
            created_at=i.created_at,
            age_s=max(0.0, (now - _aware(i.created_at, now)).total_seconds()),
            reason=i.reason,
            claimed_by=i.claimed_by,
        )
        for i in rows
    ]


def _resolutions(session: Session, tenant: str, since: datetime) -> list[StewardCount]:
    """Decisions made in the window (every version, so a changed mind counts as work done), by
    who made them and their kind."""
    rows = session.execute(
        select(ReviewResolution.decided_by, ReviewResolution.kind, func.count())
        .where(ReviewResolution.tenant_id == tenant, ReviewResolution.decided_at >= since)
        .group_by(ReviewResolution.decided_by, ReviewResolution.kind)
        .order_by(ReviewResolution.decided_by, ReviewResolution.kind)
    )
    return [StewardCount(steward=by, kind=kind, count=int(n)) for by, kind, n in rows]


def _links_undone(session: Session, tenant: str, since: datetime) -> tuple[int, int]:
    """Links made in the window, and how many of them the item's next version replaced with
    anything but the same link (kept apart, another member, new person…)."""
    first = aliased(ReviewResolution)
    then = aliased(ReviewResolution)
    links = and_(first.tenant_id == tenant, first.kind == "link", first.decided_at >= since)
    count = session.scalar(select(func.count()).select_from(first).where(links))
    undone = session.scalar(
        select(func.count())
        .select_from(first)
        .join(then, and_(then.item_id == first.item_id, then.version == first.version + 1))
        .where(links, ~and_(then.kind == "link", then.member_id == first.member_id))
    )
    return int(count or 0), int(undone or 0)


def _aware(value: datetime, now: datetime) -> datetime:
    """SQLite hands back naive datetimes (stored as UTC)."""
    return value if value.tzinfo is not None else value.replace(tzinfo=now.tzinfo)
