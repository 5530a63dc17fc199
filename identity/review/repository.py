"""All SQL about review items."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    CursorResult,
    Table,
    bindparam,
    case,
    exists,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session

from identity.db import in_chunks, insert_row
from identity.keyed_lock import lock_keys
from identity.learned_names import repository as learned_names
from identity.matching.evidence_render import render_evidence
from identity.models import (
    Coverage,
    MatchDecision,
    Member,
    RememberedDecision,
    ReviewItem,
    ReviewResolution,
    SamePersonPair,
)


def add_item(session: Session, item: ReviewItem) -> None:
    """A Core INSERT: the new item is not changed in the transaction that opens it."""
    insert_row(session, item)


def add_items(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Many new items in one executemany (their decisions inserted first)."""
    if rows:
        session.execute(insert(ReviewItem), list(rows))


def get_item(session: Session, tenant: str, item_id: str) -> ReviewItem | None:
    return session.scalar(
        select(ReviewItem).where(ReviewItem.tenant_id == tenant, ReviewItem.id == item_id)
    )


def item_for_match(session: Session, tenant: str, match_id: str) -> ReviewItem | None:
    return session.scalar(
        select(ReviewItem).where(ReviewItem.tenant_id == tenant, ReviewItem.match_id == match_id)
    )


def list_items(
    session: Session,
    tenant: str,
    *,
    status: str | None,
    after: tuple[datetime, str] | None,
    limit: int,
) -> list[ReviewItem]:
    """Oldest first (the queue's order), keyset-paginated on (created_at, id)."""
    query = select(ReviewItem).where(ReviewItem.tenant_id == tenant)
    if status is not None:
        query = query.where(ReviewItem.status == status)
    if after is not None:
        created, item_id = after
        query = query.where(
            (ReviewItem.created_at > created)
            | ((ReviewItem.created_at == created) & (ReviewItem.id > item_id))
        )
    return list(session.scalars(query.order_by(ReviewItem.created_at, ReviewItem.id).limit(limit)))


def review_queue_depth(session: Session) -> list[tuple[str, str, int]]:
    """(tenant, status, count) for every tenant and status that has items; for the metrics.

    On PostgreSQL through a SECURITY DEFINER function: the application role sees one tenant's
    rows at a time (row-level security), and these counts carry no member data."""
    if session.get_bind().dialect.name == "postgresql":
        rows = session.execute(
            text("SELECT * FROM identity_review_queue_depth() ORDER BY tenant_id, status")
        )
        return [(tenant, status, int(count)) for tenant, status, count in rows]
    rows = session.execute(
        select(ReviewItem.tenant_id, ReviewItem.status, func.count())
        .group_by(ReviewItem.tenant_id, ReviewItem.status)
        .order_by(ReviewItem.tenant_id, ReviewItem.status)
    )
    return [(tenant, status, int(count)) for tenant, status, count in rows]


# --- the steward workflow: claims, the queue, resolutions, remembered decisions -------------

OPEN_STATUSES = ("open", "escalated")


def _held(now: datetime) -> ColumnElement[bool]:
    """The item is held: claimed, and the lease has not run out."""
    # Each term is true or false (never NULL), so the negation means "not held".
    return (
        ReviewItem.claimed_by.is_not(None)
        & ReviewItem.claim_expires_at.is_not(None)
        & (ReviewItem.claim_expires_at > now)
    )


def take_claim(
    session: Session,
    tenant: str,
    item_id: str,
    *,
    holder: str,
    now: datetime,
    expires: datetime,
    statuses: Sequence[str],
    take_over: bool = False,
    assigned_by: str | None = None,
) -> bool:
    """One conditional UPDATE: the claim is taken only if nobody else holds it (or `take_over`),
    so of two stewards claiming at once exactly one succeeds. On PostgreSQL the second UPDATE
    waits for the first to commit and re-checks the condition; SQLite has one writer."""
    free = ReviewItem.claimed_by.is_(None) | (ReviewItem.claim_expires_at.is_(None))
    free = free | (ReviewItem.claim_expires_at <= now) | (ReviewItem.claimed_by == holder)
    condition = [
        ReviewItem.tenant_id == tenant,
        ReviewItem.id == item_id,
        ReviewItem.status.in_(list(statuses)),
    ]
    if not take_over:
        condition.append(free)
    result = session.execute(
        update(ReviewItem)
        .where(*condition)
        .values(
            claimed_by=holder, claimed_at=now, claim_expires_at=expires, assigned_by=assigned_by
        )
        .execution_options(synchronize_session=False)
    )
    return cast(CursorResult[Any], result).rowcount == 1


def clear_claim(session: Session, tenant: str, item_id: str) -> None:
    session.execute(
        update(ReviewItem)
        .where(ReviewItem.tenant_id == tenant, ReviewItem.id == item_id)
        .values(claimed_by=None, claimed_at=None, claim_expires_at=None, assigned_by=None)
        .execution_options(synchronize_session=False)
    )


def refresh(session: Session, item: ReviewItem) -> ReviewItem:
    session.refresh(item)
    return item


def next_claimable(
    session: Session,
    tenant: str,
    *,
    holder: str,
    now: datetime,
    statuses: Sequence[str],
    limit: int,
    skip: Sequence[str] = (),
) -> list[str]:
    """Ids of the oldest items nobody else holds (the holder's own first), for claim_next."""
    mine = (ReviewItem.claimed_by == holder) & (ReviewItem.claim_expires_at > now)
    query = select(ReviewItem.id).where(
        ReviewItem.tenant_id == tenant,
        ReviewItem.status.in_(list(statuses)),
        ~_held(now) | mine,
    )
    if skip:
        query = query.where(ReviewItem.id.not_in(list(skip)))
    order = case((mine, 0), else_=1)
    return list(
        session.scalars(query.order_by(order, ReviewItem.created_at, ReviewItem.id).limit(limit))
    )


@dataclass(frozen=True, slots=True)
class QueueQuery:
    reason: str | None
    created_after: datetime | None  # the age bucket, as created_at bounds
    created_before: datetime | None
    claim: str | None  # unclaimed | mine | claimed
    holder: str
    policy_version: str | None


def queue_items(
    session: Session,
    tenant: str,
    q: QueueQuery,
    *,
    now: datetime,
    after: tuple[datetime, str] | None,
    limit: int,
) -> list[ReviewItem]:
    """Open and escalated items, oldest first, keyset-paginated on (created_at, id)."""
    query = select(ReviewItem).where(
        ReviewItem.tenant_id == tenant, ReviewItem.status.in_(OPEN_STATUSES)
    )
    if q.reason is not None:
        query = query.where(ReviewItem.reason == q.reason)
    if q.policy_version is not None:
        query = query.where(ReviewItem.policy_version == q.policy_version)
    if q.created_after is not None:
        query = query.where(ReviewItem.created_at > q.created_after)
    if q.created_before is not None:
        query = query.where(ReviewItem.created_at <= q.created_before)
    if q.claim == "unclaimed":
        query = query.where(~_held(now))
    elif q.claim == "claimed":
        query = query.where(_held(now))
    elif q.claim == "mine":
        query = query.where(_held(now), ReviewItem.claimed_by == q.holder)
    if after is not None:
        created, item_id = after
        query = query.where(
            (ReviewItem.created_at > created)
            | ((ReviewItem.created_at == created) & (ReviewItem.id > item_id))
        )
    return list(session.scalars(query.order_by(ReviewItem.created_at, ReviewItem.id).limit(limit)))


def open_counts(
    session: Session, tenant: str, bounds: Sequence[datetime], *, overdue_before: datetime
) -> tuple[list[int], int, list[str], list[str]]:
    """Open items per age bucket (created_at above each bound, newest bucket first; `bounds`
    descending), those created before `overdue_before`, and the reasons and policy versions that
    occur among them: one pass for the counts, and the two distinct lists off the index."""
    buckets = [func.sum(case((ReviewItem.created_at > bound, 1), else_=0)) for bound in bounds]
    overdue = func.sum(case((ReviewItem.created_at < overdue_before, 1), else_=0))
    open_ = (ReviewItem.tenant_id == tenant) & ReviewItem.status.in_(OPEN_STATUSES)
    row = session.execute(select(func.count(), overdue, *buckets).where(open_)).one()
    total, late, *cumulative = (int(v or 0) for v in row)
    counts, below = [], 0
    for value in cumulative:
        counts.append(value - below)
        below = value
    counts.append(total - below)
    reasons = session.scalars(
        select(ReviewItem.reason).where(open_).distinct().order_by(ReviewItem.reason)
    )
    versions = session.scalars(
        select(ReviewItem.policy_version)
        .where(open_)
        .distinct()
        .order_by(ReviewItem.policy_version)
    )
    return counts, late, list(reasons), list(versions)


def resolutions_of(session: Session, tenant: str, item_id: str) -> list[ReviewResolution]:
    """An item's resolutions, newest version first."""
    return list(
        session.scalars(
            select(ReviewResolution)
            .where(ReviewResolution.tenant_id == tenant, ReviewResolution.item_id == item_id)
            .order_by(ReviewResolution.version.desc())
        )
    )


def add_resolution(session: Session, resolution: ReviewResolution) -> None:
    insert_row(session, resolution)


def supersede(session: Session, tenant: str, item_id: str, now: datetime) -> None:
    session.execute(
        update(ReviewResolution)
        .where(
            ReviewResolution.tenant_id == tenant,
            ReviewResolution.item_id == item_id,
            ReviewResolution.superseded_at.is_(None),
        )
        .values(superseded_at=now)
        .execution_options(synchronize_session=False)
    )


def earlier_resolutions(
    session: Session,
    tenant: str,
    *,
    item_id: str,
    member_ids: Sequence[str],
    fingerprint: str | None,
    limit: int = 50,
) -> list[ReviewResolution]:
    """Other items' resolutions about these members or the same query fingerprint, newest
    first."""
    about = ReviewResolution.member_id.in_(list(member_ids)) | (
        ReviewResolution.other_member_id.in_(list(member_ids))
    )
    if fingerprint:
        same_query = (
            select(ReviewItem.id)
            .join(MatchDecision, MatchDecision.id == ReviewItem.match_id)
            .where(
                ReviewItem.tenant_id == tenant,
                MatchDecision.tenant_id == tenant,
                MatchDecision.input_fingerprint == fingerprint,
            )
        )
        about = about | ReviewResolution.item_id.in_(same_query)
    return list(
        session.scalars(
            select(ReviewResolution)
            .where(
                ReviewResolution.tenant_id == tenant,
                ReviewResolution.item_id != item_id,
                about,
            )
            .order_by(ReviewResolution.decided_at.desc(), ReviewResolution.id)
            .limit(limit)
        )
    )


def add_remembered(session: Session, rows: Sequence[RememberedDecision]) -> None:
    for row in rows:
        insert_row(session, row)


def add_pair(session: Session, pair: SamePersonPair) -> None:
    insert_row(session, pair)


def forget_for_item(session: Session, tenant: str, item_id: str, *, by: str, now: datetime) -> None:
    """Deactivate what the item's earlier resolutions made the service remember: a newer
    decision on the item replaces them."""
    of_item = select(ReviewResolution.id).where(
        ReviewResolution.tenant_id == tenant, ReviewResolution.item_id == item_id
    )
    for model in (RememberedDecision, SamePersonPair):
        session.execute(
            update(model)
            .where(
                model.tenant_id == tenant,
                model.active.is_(True),
                model.resolution_id.in_(of_item),
            )
            .values(active=False, undone_by=by, undone_at=now)
            .execution_options(synchronize_session=False)
        )


def active_pairs_between(session: Session, tenant: str, a: str, b: str) -> list[SamePersonPair]:
    return list(
        session.scalars(
            select(SamePersonPair).where(
                SamePersonPair.tenant_id == tenant,
                SamePersonPair.active.is_(True),
                ((SamePersonPair.member_id == a) & (SamePersonPair.other_member_id == b))
                | ((SamePersonPair.member_id == b) & (SamePersonPair.other_member_id == a)),
            )
        )
    )


def deactivate(
    session: Session, rows: Sequence[RememberedDecision | SamePersonPair], *, by: str, now: datetime
) -> None:
    for row in rows:
        row.active = False
        row.undone_by = by
        row.undone_at = now
    session.flush()


def remembered_rows(
    session: Session, tenant: str, *, member_ids: Sequence[str] | None, limit: int
) -> tuple[list[RememberedDecision], list[SamePersonPair]]:
    """With member ids: everything remembered about them (active or undone); without: the
    active decisions of the tenant. Newest first."""
    decisions = select(RememberedDecision).where(RememberedDecision.tenant_id == tenant)
    pairs = select(SamePersonPair).where(SamePersonPair.tenant_id == tenant)
    if member_ids is None:
        decisions = decisions.where(RememberedDecision.active.is_(True))
        pairs = pairs.where(SamePersonPair.active.is_(True))
    else:
        ids = list(member_ids)
        decisions = decisions.where(RememberedDecision.member_id.in_(ids))
        pairs = pairs.where(
            SamePersonPair.member_id.in_(ids) | SamePersonPair.other_member_id.in_(ids)
        )
    return (
        list(
            session.scalars(decisions.order_by(RememberedDecision.decided_at.desc()).limit(limit))
        ),
        list(session.scalars(pairs.order_by(SamePersonPair.decided_at.desc()).limit(limit))),
    )


def remembered_by_id(
    session: Session, tenant: str, remembered_id: str, *, lock: bool = False
) -> RememberedDecision | SamePersonPair | None:
    """A remembered decision or same-person pair by id; with `lock`, read fresh under a lock
    held to the transaction's end (two undos at once: the second finds it undone)."""
    if lock:
        lock_keys(session, [f"remembered:{tenant}:{remembered_id}"])
    fresh = {"populate_existing": True}
    found: RememberedDecision | SamePersonPair | None = session.scalar(
        select(RememberedDecision)
        .where(RememberedDecision.tenant_id == tenant, RememberedDecision.id == remembered_id)
        .execution_options(**fresh)
    )
    if found is None:
        found = session.scalar(
            select(SamePersonPair)
            .where(SamePersonPair.tenant_id == tenant, SamePersonPair.id == remembered_id)
            .execution_options(**fresh)
        )
    return found


_REMEMBERED = cast(Table, RememberedDecision.__table__)
_PAIRS = cast(Table, SamePersonPair.__table__)
# Matching's first read, built once: whether the tenant has any active remembered decision, any
# active same-person pair, any active learned given-name pair (each an index's first entry).
_IN_USE = select(
    exists().where(_REMEMBERED.c.tenant_id == bindparam("tenant"), _REMEMBERED.c.active.is_(True)),
    exists().where(_PAIRS.c.tenant_id == bindparam("tenant"), _PAIRS.c.active.is_(True)),
    learned_names.any_active(bindparam("tenant")),
)


def memory_in_use(session: Session, tenant: str) -> tuple[bool, bool, bool]:
    """(any remembered decision, any same-person pair, any learned name pair) active for the
    tenant, read in the caller's transaction like the reads it spares."""
    row = session.connection().execute(_IN_USE, {"tenant": tenant}).one()
    return bool(row[0]), bool(row[1]), bool(row[2])


def remembered_for(
    session: Session, tenant: str, fingerprints: Collection[str]
) -> list[tuple[str, str, str, str]]:
    """The active keep-apart/link decisions on these query fingerprints (its index):
    (fingerprint, member id, kind, resolution id)."""
    found: list[tuple[str, str, str, str]] = []
    for chunk in in_chunks(fingerprints):
        rows = session.execute(
            select(
                RememberedDecision.input_fingerprint,
                RememberedDecision.member_id,
                RememberedDecision.kind,
                RememberedDecision.resolution_id,
            ).where(
                RememberedDecision.tenant_id == tenant,
                RememberedDecision.input_fingerprint.in_(chunk),
                RememberedDecision.active.is_(True),
            )
        )
        found += [(fp, member, kind, rid) for fp, member, kind, rid in rows]
    return found


def pairs_among(
    session: Session, tenant: str, member_ids: Collection[str]
) -> list[tuple[str, str, str]]:
    """The active same-person pairs whose other record is one of these members:
    (surviving member id, other member id, resolution id)."""
    found: list[tuple[str, str, str]] = []
    for chunk in in_chunks(member_ids):
        rows = session.execute(
            select(
                SamePersonPair.member_id,
                SamePersonPair.other_member_id,
                SamePersonPair.resolution_id,
            ).where(
                SamePersonPair.tenant_id == tenant,
                SamePersonPair.other_member_id.in_(chunk),
                SamePersonPair.active.is_(True),
            )
        )
        found += [(survivor, other, rid) for survivor, other, rid in rows]
    return found


def fingerprint_of(session: Session, tenant: str, match_id: str) -> str | None:
    return session.scalar(
        select(MatchDecision.input_fingerprint).where(
            MatchDecision.tenant_id == tenant, MatchDecision.id == match_id
        )
    )


def decision_of(session: Session, tenant: str, match_id: str) -> MatchDecision | None:
    return session.scalar(
        select(MatchDecision).where(MatchDecision.tenant_id == tenant, MatchDecision.id == match_id)
    )


def existing_member_ids(session: Session, tenant: str, member_ids: Sequence[str]) -> set[str]:
    if not member_ids:
        return set()
    return set(
        session.scalars(
            select(Member.member_id).where(
                Member.tenant_id == tenant, Member.member_id.in_(list(member_ids))
            )
        )
    )


def coverages_of(
    session: Session, tenant: str, member_ids: Sequence[str]
) -> dict[str, list[dict[str, Any]]]:
    """Each member's coverage periods, earliest first."""
    found: dict[str, list[dict[str, Any]]] = {m: [] for m in member_ids}
    if not member_ids:
        return found
    rows = session.execute(
        select(
            Member.member_id,
            Coverage.period_start,
            Coverage.period_end,
            Coverage.relationship,
            Coverage.subscriber_id,
            Coverage.payor,
        )
        .join(Coverage, Coverage.member_pk == Member.id)
        .where(
            Member.tenant_id == tenant,
            Coverage.tenant_id == tenant,
            Member.member_id.in_(list(member_ids)),
        )
        .order_by(Member.member_id, Coverage.period_start, Coverage.id)
    )
    for r in rows:
        found.setdefault(r.member_id, []).append(
            {
                "start": r.period_start,
                "end": r.period_end,
                "relationship": r.relationship,
                "subscriber": r.subscriber_id,
                "payor": r.payor,
            }
        )
    return found


def answered_by_link(session: Session, tenant: str, fingerprint: str, member_id: str) -> list[str]:
    """Decisions a remembered link answered: the same request matched to that member at the
    `steward-decision` stage (their tokens stand on the link)."""
    if not fingerprint:
        return []
    return list(
        session.scalars(
            select(MatchDecision.id).where(
                MatchDecision.tenant_id == tenant,
                MatchDecision.input_fingerprint == fingerprint,
                MatchDecision.member_id == member_id,
                MatchDecision.reason == "steward-decision",
            )
        )
    )


def lock_item(session: Session, tenant: str, item_id: str) -> ReviewItem | None:
    """The item, read fresh under a lock held until the transaction ends: two decisions on one
    item are numbered one after the other, never both as the same version."""
    lock_keys(session, [f"review-item:{tenant}:{item_id}"])
    return session.scalar(
        select(ReviewItem)
        .where(ReviewItem.tenant_id == tenant, ReviewItem.id == item_id)
        .execution_options(populate_existing=True)
    )


def item_ids_for_matches(
    session: Session, tenant: str, match_ids: Collection[str]
) -> dict[str, str]:
    """match id -> its review item's id, for those decisions that opened one."""
    found: dict[str, str] = {}
    for chunk in in_chunks(match_ids):
        rows = session.execute(
            select(ReviewItem.match_id, ReviewItem.id).where(
                ReviewItem.tenant_id == tenant, ReviewItem.match_id.in_(chunk)
            )
        )
        found.update({str(m): str(i) for m, i in rows})
    return found


@dataclass(frozen=True, slots=True)
class SettledItem:
    """A resolved item's current settlement beside the evidence of the decision it settled."""

    item_id: str
    match_id: str
    kind: str
    member_id: str | None
    other_member_id: str | None
    decided_at: datetime
    evidence: dict[str, Any]


def settled_items(session: Session, tenant: str, *, limit: int) -> list[SettledItem]:
    """Resolved items (newest settlement first) whose decision still holds its demographics,
    with the settlement in force (the newest version, not superseded)."""
    rows = session.execute(
        select(
            ReviewItem.id,
            ReviewItem.match_id,
            ReviewResolution.kind,
            ReviewResolution.member_id,
            ReviewResolution.other_member_id,
            ReviewResolution.decided_at,
            MatchDecision.stored_evidence,
        )
        .join(ReviewResolution, ReviewResolution.item_id == ReviewItem.id)
        .join(MatchDecision, MatchDecision.id == ReviewItem.match_id)
        .where(
            ReviewItem.tenant_id == tenant,
            ReviewItem.status == "resolved",
            ReviewResolution.tenant_id == tenant,
            ReviewResolution.superseded_at.is_(None),
            MatchDecision.tenant_id == tenant,
            MatchDecision.purged_at.is_(None),
        )
        .order_by(ReviewResolution.decided_at.desc(), ReviewItem.id)
        .limit(limit)
    )
    return [
        SettledItem(item, match, kind, member, other, at, render_evidence(evidence))
        for item, match, kind, member, other, at, evidence in rows
    ]


def pair_members_of(
    session: Session, tenant: str, resolution_ids: Collection[str]
) -> dict[str, list[str]]:
    """resolution id -> the other records its same-person pairs name (active or undone), for a
    resolution that paired several records with its survivor."""
    found: dict[str, list[str]] = {}
    for chunk in in_chunks(resolution_ids):
        rows = session.execute(
            select(SamePersonPair.resolution_id, SamePersonPair.other_member_id)
            .where(SamePersonPair.tenant_id == tenant, SamePersonPair.resolution_id.in_(chunk))
            .order_by(SamePersonPair.other_member_id)
        )
        for resolution_id, other in rows:
            found.setdefault(resolution_id, []).append(other)
    return found
