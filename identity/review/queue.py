"""The queue a steward works: open items oldest first, filtered, keyset-paged, with counts by
age bucket against the tenant's service level (SLA)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from identity.audit.actor import Actor

AGE_BUCKETS = ("<1d", "1-3d", "3-7d", ">7d")
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
    """A page of the open (and escalated) items, oldest first; audited as a read of the queue."""
    raise NotImplementedError
