"""What became of a decision: the current resolution of its review, for `GET /v1/matches/{id}`.

The client that asked for a decision may read it back with the `match` scope alone: the same
minimal answer `/v1/match` gave it, plus how its review was settled. Every other decision needs
`decisions:read` (403 otherwise, whether or not the decision exists: a `match` client cannot
probe for other clients' decisions). Who settled a review is internal and never shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from identity.audit.actor import Actor
from identity.auth.principal import Principal
from identity.auth.scopes import Scope
from identity.errors import Forbidden
from identity.models import ReviewItem
from identity.resolution import repository, service
from identity.review import service as review_service

# Kinds whose member id names the person the request is: the linked member, or the surviving
# record of a same-person pair. The others name no member for the caller.
NAMES_A_MEMBER = frozenset({"link", "same_person"})


@dataclass(frozen=True, slots=True)
class ReviewOutcome:
    status: str  # open | escalated | resolved
    kind: str | None  # the current settlement; None while unsettled
    member_id: str | None
    resolved_at: datetime | None


def review_outcome(item: ReviewItem | None) -> ReviewOutcome | None:
    """The item's current state (the review service keeps it on the item); None: no review."""
    if item is None:
        return None
    kind = item.resolution
    return ReviewOutcome(
        status=item.status,
        kind=kind,
        member_id=item.resolved_member_id if kind in NAMES_A_MEMBER else None,
        resolved_at=_utc(item.resolved_at),
    )


def _utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes (stored as UTC): answer them with their zone."""
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


@dataclass(frozen=True, slots=True)
class MatchWithOutcome:
    result: service.MatchResult
    outcome: ReviewOutcome | None
    full: bool  # decisions:read: the whole stored decision; else the minimal answer


def read(session: Session, caller: Principal, actor: Actor, match_id: str) -> MatchWithOutcome:
    """The stored decision with its review's outcome, as much as the caller may see (audited
    as a decision read)."""
    full = caller.has(Scope.DECISIONS_READ)
    if not full:
        decision = repository.get_decision(session, actor.tenant, match_id)
        if decision is None or decision.client_id != caller.client_id:
            raise Forbidden(Scope.DECISIONS_READ.value)
    result = service.get_match(session, actor, match_id)
    item = review_service.item_for_match(session, actor.tenant, match_id)
    return MatchWithOutcome(result, review_outcome(item), full)
