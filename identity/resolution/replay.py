"""Replay a stored decision under another policy version: same query, same candidates.

Only the pure core runs (rules, scores, decision), so the difference between the two outcomes is
the policy's doing alone, never a change in the member master since. A decision whose demographics
the retention purge removed cannot be replayed: there is nothing left to decide on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from identity.errors import Conflict, NotFound
from identity.learned_names import service as learned_names
from identity.matching.engine import Candidate, Matcher, Resolution
from identity.matching.record import StandardRecord, record_from_dict
from identity.policy.service import stored_policy
from identity.resolution import repository


@dataclass(frozen=True, slots=True)
class Replay:
    match_id: str
    recorded_version: str
    recorded_outcome: str
    recorded_reason: str
    recorded_member_id: str | None
    replay_version: str
    replayed: Resolution


def replayable(evidence: dict[str, Any]) -> bool:
    """The evidence still holds the demographics a replay needs (not purged by retention)."""
    return "query" in evidence and all("record" in c for c in evidence.get("candidates", ()))


def stored_inputs(evidence: dict[str, Any]) -> tuple[StandardRecord, list[Candidate]]:
    """The query and candidates a stored decision was made on, as the pure core takes them:
    the one rebuild every replay (one decision, a shadow run, steward labels) goes through."""
    query = record_from_dict(evidence["query"])
    candidates = [
        Candidate(0, c["member_id"], record_from_dict(c["record"]), tuple(c["blocking_keys"]))
        for c in evidence["candidates"]
    ]
    return query, candidates


def replay(session: Session, tenant: str, match_id: str, policy_version: str) -> Replay:
    decision = repository.get_decision(session, tenant, match_id)
    if decision is None:
        raise NotFound("no match decision with that id")
    evidence = decision.evidence
    if decision.purged_at is not None or "query" not in evidence:
        when = f" on {decision.purged_at:%Y-%m-%d}" if decision.purged_at else ""
        raise Conflict(
            f"decision {match_id} cannot be replayed: its demographics were purged{when} "
            "(retention); its outcome, reason and policy version remain"
        )
    query, candidates = stored_inputs(evidence)
    matcher = Matcher(stored_policy(session, policy_version))
    return Replay(
        match_id=match_id,
        recorded_version=decision.policy_version,
        recorded_outcome=decision.outcome,
        recorded_reason=decision.reason,
        recorded_member_id=decision.member_id,
        replay_version=policy_version,
        replayed=matcher.resolve(
            query, candidates, learned_names.for_replay(session, tenant, evidence)
        ),
    )
