"""All SQL about review items."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import Session

from identity.db import insert_row
from identity.models import ReviewItem


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
