"""The match use case for many queries at once (a $bulk-member-match batch): the same decisions,
with the same evidence, as `service.match` gives one query at a time, from set-based reads and
one executemany per table.

Steps 1-5 stay pure and per query (the matcher of the tenant's active policy, read once per
batch); what changes is the I/O around them: the candidates of every query are retrieved
together (`find_candidates_many`), and the decisions and their review items are held as rows
until `store` writes them all. The caller decides in what order its queries are resolved, so a
later query can see an earlier one's review item before anything is written.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from identity.matching.blocking import blocking_keys
from identity.matching.decision import Outcome
from identity.matching.engine import Candidate, Matcher
from identity.matching.record import StandardRecord
from identity.member.repository import find_candidates_many
from identity.resolution import repository
from identity.resolution.service import _candidate_summary, _evidence, fingerprint
from identity.review import repository as review_repository
from identity.review import service as review_service


@dataclass(frozen=True, slots=True)
class NewDecision:
    """A decision made in memory, written by `store`; what the caller's answer needs of it."""

    id: str
    outcome: str
    reason: str
    member_id: str | None
    policy_version: str
    review_item_id: str | None
    row: dict[str, Any]  # the match_decision row
    review_row: dict[str, Any] | None  # its review item's row, for a review outcome


def candidates_for(
    session: Session, tenant: str, matcher: Matcher, queries: Sequence[StandardRecord]
) -> tuple[list[list[Candidate]], float]:
    """Every query's candidates, and the retrieval's seconds per query (its timing share)."""
    started = time.perf_counter()
    blocking = matcher.policy.document.blocking
    found = find_candidates_many(
        session,
        tenant,
        [blocking_keys(q, blocking.keys) for q in queries],
        max_block_size=blocking.max_block_size,
        max_candidates=blocking.max_candidates,
    )
    return found, (time.perf_counter() - started) / max(1, len(queries))


def decide(
    tenant: str,
    matcher: Matcher,
    query: StandardRecord,
    candidates: Sequence[Candidate],
    *,
    standardize_s: float,
    candidates_s: float,
) -> NewDecision:
    """`service.match`'s decision for one query, not yet written. Timings: the query's own
    standardising and deciding; retrieval is the batch's, shared out evenly."""
    started = time.perf_counter()
    policy = matcher.policy
    resolution = matcher.resolve(query, candidates)
    decided = time.perf_counter()
    member = resolution.member
    summary = _candidate_summary(resolution)
    row: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "tenant_id": tenant,
        "input_fingerprint": fingerprint(query),
        "policy_version": policy.version,
        "outcome": resolution.decision.outcome.value,
        "stage": resolution.decision.stage.value,
        "reason": resolution.decision.reason.value,
        "member_id": member.member_id if member else None,
        "probability": resolution.decision.probability,
        "candidates": summary,
        "evidence": _evidence(query, resolution, policy.version),
        "timings_ms": {
            "standardize": round(standardize_s * 1000, 3),
            "candidates": round(candidates_s * 1000, 3),
            "decide": round((decided - started) * 1000, 3),
        },
    }
    review_row = None
    if row["outcome"] == Outcome.REVIEW:
        review_row = review_service.new_item_row(
            tenant=tenant,
            match_id=row["id"],
            policy_version=policy.version,
            reason=row["reason"],
            candidates=summary,
        )
    return NewDecision(
        id=row["id"],
        outcome=row["outcome"],
        reason=row["reason"],
        member_id=row["member_id"],
        policy_version=policy.version,
        review_item_id=review_row["id"] if review_row else None,
        row=row,
        review_row=review_row,
    )


def store(session: Session, decisions: Sequence[NewDecision]) -> None:
    """The decisions, then their review items (which reference them), one statement each."""
    repository.add_decisions(session, [d.row for d in decisions])
    review_repository.add_items(session, [d.review_row for d in decisions if d.review_row])
