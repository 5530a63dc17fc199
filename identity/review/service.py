"""Review queue use cases: open an item for a `review` decision, list and read items.

An item is opened in the same transaction as its decision, so a `review` outcome without a queue
entry cannot exist. The steward workflow (claim, link, keep apart) builds on these rows.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from identity.audit import service as audit
from identity.audit.actor import Actor
from identity.errors import FieldError, InvalidInput, NotFound
from identity.models import MatchDecision, ReviewItem
from identity.review import repository

# The steward workflow, re-exported: callers (the JSON API, the pages) import this module only.
from identity.review.claims import assign, aware, claim, claim_next, holder, release
from identity.review.cursor import decode_cursor as _decode_cursor
from identity.review.cursor import encode_cursor
from identity.review.decisions import (
    ResolutionView,
    StewardDecision,
    decide,
    history,
)
from identity.review.detail import ItemDetail, item_detail
from identity.review.memory import RememberedView, remembered, undo_remembered
from identity.review.queue import (
    AGE_BUCKETS,
    QueueFilters,
    QueuePage,
    QueueRow,
    queue,
)
from identity.review.roles import Role, RoleForbidden

STATUSES = ("open", "escalated", "resolved")


def open_item(session: Session, decision: MatchDecision) -> ReviewItem:
    item = ReviewItem(
        id=str(uuid.uuid4()),
        tenant_id=decision.tenant_id,
        match_id=decision.id,
        policy_version=decision.policy_version,
        reason=decision.reason,
        status="open",
        candidates=[
            {k: c.get(k) for k in ("member_id", "status", "probability")}
            for c in decision.candidates
            if c.get("status") != "excluded"
        ],
    )
    repository.add_item(session, item)
    return item


def new_item_row(
    *, tenant: str, match_id: str, policy_version: str, reason: str, candidates: list[Any]
) -> dict[str, Any]:
    """The review item `open_item` would open for a decision, as a row to insert with others
    (a bulk batch writes its items in one statement). The decision's row must go in first."""
    return {
        "id": str(uuid.uuid4()),
        "tenant_id": tenant,
        "match_id": match_id,
        "policy_version": policy_version,
        "reason": reason,
        "status": "open",
        "candidates": [
            {k: c.get(k) for k in ("member_id", "status", "probability")}
            for c in candidates
            if c.get("status") != "excluded"
        ],
    }


def list_items(
    session: Session, actor: Actor, *, status: str | None, cursor: str | None, limit: int
) -> tuple[list[ReviewItem], str | None]:
    """A page of the queue and the cursor of the next page (None on the last); audited."""
    if status is not None and status not in STATUSES:
        raise InvalidInput(
            "unknown status", errors=[FieldError("/status", f"one of {', '.join(STATUSES)}")]
        )
    after = _decode_cursor(cursor) if cursor else None
    items = repository.list_items(
        session, actor.tenant, status=status, after=after, limit=limit + 1
    )
    more = len(items) > limit
    items = items[:limit]
    _audit_read(session, actor, "review.list", items)
    return items, encode_cursor(items[-1]) if more and items else None


def item_for_match(session: Session, tenant: str, match_id: str) -> ReviewItem | None:
    return repository.item_for_match(session, tenant, match_id)


def get_item(session: Session, actor: Actor, item_id: str) -> ReviewItem:
    item = repository.get_item(session, actor.tenant, item_id)
    if item is None:
        raise NotFound("no review item with that id")
    _audit_read(session, actor, "review.read", [item])
    return item


def _audit_read(session: Session, actor: Actor, action: str, items: list[ReviewItem]) -> None:
    audit.record(
        session,
        actor,
        action=action,
        outcome="success",
        object_type="review_item",
        object_ids=[i.id for i in items],
        policy_version=items[0].policy_version if len(items) == 1 else None,
    )


def item_view(item: ReviewItem) -> dict[str, Any]:
    return {
        "id": item.id,
        "match_id": item.match_id,
        "status": item.status,
        "reason": item.reason,
        "policy_version": item.policy_version,
        "candidates": item.candidates,
        "created_at": item.created_at,
        "claimed_by": holder(item, datetime.now(UTC)),  # None once the lease ran out
        "resolution": item.resolution,
        "resolved_member_id": item.resolved_member_id,
        "resolved_at": item.resolved_at,
    }


def resolve(
    session: Session,
    actor: Actor,
    item_id: str,
    *,
    resolution: str,
    member_id: str | None,
    note: str | None,
    now: datetime,
    role: Role = Role.STEWARD,
) -> ReviewItem:
    """The first API's resolution (link / keep apart), as a versioned steward decision."""
    decide(
        session,
        actor,
        item_id,
        StewardDecision(kind=resolution, member_id=member_id, note=note),
        role=role,
        now=now,
    )
    item = repository.get_item(session, actor.tenant, item_id)
    if item is None:  # decide found it in this transaction
        raise NotFound("no review item with that id")
    return item


__all__ = [
    "AGE_BUCKETS",
    "ReviewItem",
    "ItemDetail",
    "QueueFilters",
    "QueuePage",
    "QueueRow",
    "RememberedView",
    "ResolutionView",
    "Role",
    "RoleForbidden",
    "StewardDecision",
    "assign",
    "aware",
    "holder",
    "claim",
    "claim_next",
    "decide",
    "history",
    "item_detail",
    "queue",
    "release",
    "remembered",
    "undo_remembered",
]
