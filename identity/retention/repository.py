"""All SQL of the retention purge: find what is due, redact decisions, clear notes, forget
expired idempotency records and rows kept for nothing once old (`Forgettable`). Every statement
is bounded by a batch size."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple
from typing import cast as typing_cast

from sqlalchemy import (
    ColumnElement,
    Table,
    and_,
    bindparam,
    delete,
    exists,
    func,
    or_,
    select,
    tuple_,
    union,
    update,
)
from sqlalchemy.orm import InstrumentedAttribute, Session

from identity.models import (
    IdempotencyRecord,
    MatchDecision,
    MemberMatchAttempt,
    ReviewItem,
    ReviewResolution,
    SignInLink,
    StewardSession,
    WebhookDelivery,
)

# A fingerprint is derived from demographics; a purged decision's is this (never a sha256).
PURGED_FINGERPRINT = ""


class Position(NamedTuple):
    """Where a walk over a tenant's decisions stands: the last (created_at, id) seen."""

    created_at: datetime
    id: str


class DueDecision(NamedTuple):
    id: str
    created_at: datetime
    evidence: dict[str, Any] | None


class Forgettable(NamedTuple):
    """A table whose rows a purge deletes outright once `timestamp` is before its cutoff: nothing
    in them is kept for the record (the audit chain holds what happened)."""

    name: str  # as the report and the audit event count it
    key: InstrumentedAttribute[Any]  # the primary key: a walk's order and its position
    tenant: InstrumentedAttribute[Any]
    timestamp: InstrumentedAttribute[Any]


# $member-match guard attempts past the guard's window: hashes of names and birth dates, which
# the guard no longer reads and forgets per client only when the client calls again.
GUARD_ATTEMPTS = Forgettable(
    "guard-attempts",
    MemberMatchAttempt.id,
    MemberMatchAttempt.tenant_id,
    MemberMatchAttempt.attempted_at,
)
# Past the retention period: webhook deliveries finished (ids and an outcome; a pending one has no
# finished_at and stays), workbench sessions last seen then and sign-in links expired then.
OLD_ROWS = (
    Forgettable(
        "webhook-deliveries",
        WebhookDelivery.id,
        WebhookDelivery.tenant_id,
        WebhookDelivery.finished_at,
    ),
    Forgettable(
        "steward-sessions",
        StewardSession.id_hash,
        StewardSession.tenant_id,
        StewardSession.last_seen_at,
    ),
    Forgettable("sign-in-links", SignInLink.code_hash, SignInLink.tenant_id, SignInLink.expires_at),
)


def due_keys(
    session: Session, table: Forgettable, tenant: str, before: datetime, *, after: Any, limit: int
) -> list[Any]:
    """The next keys of the tenant's rows due (`timestamp` before `before`), in key order."""
    stmt = select(table.key).where(table.tenant == tenant, table.timestamp < before)
    if after is not None:
        stmt = stmt.where(table.key > after)
    return list(session.scalars(stmt.order_by(table.key).limit(limit)))


def delete_keys(
    session: Session, table: Forgettable, tenant: str, before: datetime, keys: Sequence[Any]
) -> None:
    """Delete those rows, still due (a row touched since it was read stays)."""
    if keys:
        session.execute(
            delete(table.key.class_)
            .where(table.tenant == tenant, table.timestamp < before, table.key.in_(list(keys)))
            .execution_options(synchronize_session=False)
        )


def _open_review() -> ColumnElement[bool]:
    # A steward still needs the evidence of an item not yet settled (open or claimed).
    return exists().where(
        ReviewItem.tenant_id == MatchDecision.tenant_id,
        ReviewItem.match_id == MatchDecision.id,
        ReviewItem.status != "resolved",
    )


def _held_before(tenant: str, cutoff: datetime) -> ColumnElement[bool]:
    return and_(
        MatchDecision.tenant_id == tenant,
        MatchDecision.purged_at.is_(None),
        MatchDecision.created_at < cutoff,
    )


def tenants_due(
    session: Session, cutoff: datetime, now: datetime, attempts_before: datetime
) -> list[str]:
    """Tenants with decisions older than the cutoff still holding demographics, idempotency
    records past their expiry, stale guard attempts or old rows of `OLD_ROWS` (as the tables'
    owner: every tenant)."""
    decisions = select(MatchDecision.tenant_id).where(
        MatchDecision.purged_at.is_(None), MatchDecision.created_at < cutoff
    )
    records = select(IdempotencyRecord.tenant_id).where(IdempotencyRecord.expires_at < now)
    due = [(GUARD_ATTEMPTS, attempts_before), *((table, cutoff) for table in OLD_ROWS)]
    old = [select(t.tenant).where(t.timestamp < before) for t, before in due]
    rows = session.execute(union(decisions, records, *old)).scalars()
    return sorted(str(t) for t in rows)


def due_decisions(
    session: Session,
    tenant: str,
    cutoff: datetime,
    *,
    after: Position | None,
    limit: int,
    with_evidence: bool,
) -> list[DueDecision]:
    """The next batch of the tenant's decisions due for purging, oldest first, after `after`
    (a keyset walk over the partial index of unpurged decisions); open reviews are passed over."""
    columns: list[Any] = [MatchDecision.id, MatchDecision.created_at]
    if with_evidence:
        columns.append(MatchDecision.stored_evidence)
    stmt = select(*columns).where(_held_before(tenant, cutoff), ~_open_review())
    if after is not None:
        stmt = stmt.where(
            or_(
                MatchDecision.created_at > after.created_at,
                and_(MatchDecision.created_at == after.created_at, MatchDecision.id > after.id),
            )
        )
    stmt = stmt.order_by(MatchDecision.created_at, MatchDecision.id).limit(limit)
    return [
        DueDecision(row[0], row[1], row[2] if with_evidence else None)
        for row in session.execute(stmt)
    ]


def count_kept_for_review(session: Session, tenant: str, cutoff: datetime) -> int:
    """Decisions past the cutoff kept because a steward has not settled their review yet."""
    stmt = select(func.count()).where(_held_before(tenant, cutoff), _open_review())
    return int(session.scalar(stmt) or 0)


def redact_decisions(
    session: Session, redacted: Sequence[tuple[str, dict[str, Any]]], now: datetime
) -> None:
    """Write each decision's redacted evidence (one executemany), empty its fingerprint and
    stamp it purged. Only decisions not purged yet change, so a concurrent purge is harmless."""
    if not redacted:
        return
    table = typing_cast(Table, MatchDecision.__table__)
    stmt = update(table).where(table.c.id == bindparam("b_id"), table.c.purged_at.is_(None))
    session.execute(
        stmt,
        [
            {
                "b_id": match_id,
                "evidence": evidence,
                "input_fingerprint": PURGED_FINGERPRINT,
                "purged_at": now,
            }
            for match_id, evidence in redacted
        ],
    )


def clear_review_notes(session: Session, tenant: str, match_ids: Sequence[str]) -> int:
    """A steward's free-text note may repeat the request's demographics: it goes with them (on
    the item and on every version of its resolution). The count is of the items' notes."""
    if not match_ids:
        return 0
    result = session.execute(
        update(ReviewItem)
        .where(
            ReviewItem.tenant_id == tenant,
            ReviewItem.match_id.in_(list(match_ids)),
            ReviewItem.note.is_not(None),
        )
        .values(note=None)
        .execution_options(synchronize_session=False)
    )
    # The item's versioned resolutions keep every note it had: they go too.
    items = select(ReviewItem.id).where(
        ReviewItem.tenant_id == tenant, ReviewItem.match_id.in_(list(match_ids))
    )
    session.execute(
        update(ReviewResolution)
        .where(
            ReviewResolution.tenant_id == tenant,
            ReviewResolution.item_id.in_(items),
            ReviewResolution.note.is_not(None),
        )
        .values(note=None)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def count_review_notes(session: Session, tenant: str, match_ids: Sequence[str]) -> int:
    if not match_ids:
        return 0
    stmt = select(func.count()).where(
        ReviewItem.tenant_id == tenant,
        ReviewItem.match_id.in_(list(match_ids)),
        ReviewItem.note.is_not(None),
    )
    return int(session.scalar(stmt) or 0)


def expired_idempotency_keys(
    session: Session, tenant: str, now: datetime, *, after: tuple[str, str] | None, limit: int
) -> list[tuple[str, str]]:
    """(client id, key) of the tenant's idempotency records past their expiry, in key order.
    Each client's are forgotten when it calls again; a client that never does leaves them."""
    stmt = select(IdempotencyRecord.client_id, IdempotencyRecord.key).where(
        IdempotencyRecord.tenant_id == tenant, IdempotencyRecord.expires_at < now
    )
    if after is not None:
        stmt = stmt.where(tuple_(IdempotencyRecord.client_id, IdempotencyRecord.key) > after)
    stmt = stmt.order_by(IdempotencyRecord.client_id, IdempotencyRecord.key).limit(limit)
    return [(str(c), str(k)) for c, k in session.execute(stmt)]


def delete_idempotency_records(
    session: Session, tenant: str, now: datetime, keys: Sequence[tuple[str, str]]
) -> int:
    if not keys:
        return 0
    result = session.execute(
        delete(IdempotencyRecord)
        .where(
            IdempotencyRecord.tenant_id == tenant,
            IdempotencyRecord.expires_at < now,
            tuple_(IdempotencyRecord.client_id, IdempotencyRecord.key).in_(list(keys)),
        )
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
