"""Response models of /v1/match and /v1/matches/{id}.

Minimum necessary: the `match` scope learns who matched and why (ids, statuses, probabilities,
rule names), never another person's demographics. The stored decision, with every candidate's
standardised values, is for `decisions:read` (stewards, analysts) alone. Both see how a `review`
was settled (`resolution`); neither sees who settled it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

from identity.resolution.outcome import MatchWithOutcome, ReviewOutcome
from identity.resolution.service import MatchResult

CandidateStatus = Literal["certain", "excluded", "open"]


class CandidateAnswer(BaseModel):
    """A candidate as `/v1/match` names it: who, how it was judged, which rules fired."""

    member_id: str
    status: CandidateStatus
    probability: float | None = None
    rules_fired: list[str]


class CandidateSummary(CandidateAnswer):
    """A candidate as the stored decision shows it, with how it was found and its weight."""

    match_weight: float | None = None
    blocking_keys: list[str]


class _DecisionFields(BaseModel):
    match_id: str
    review_item_id: str | None = None
    outcome: Literal["match", "review", "no_match"]
    member_id: str | None
    probability: float | None
    policy_version: str
    stage: str
    reason: str


class MatchResponse(_DecisionFields):
    """The answer to `POST /v1/match` (and its idempotent replays)."""

    candidates: list[CandidateAnswer]


class MatchResolution(BaseModel):
    """The current state of a `review` decision's review item."""

    status: str  # open | escalated (a lead settles it) | resolved
    # link | keep_apart | new_person | same_person | not_same_person | escalate; null while open
    kind: str | None
    # The linked member, or the surviving record of a same-person pair; null for other kinds.
    member_id: str | None
    resolved_at: datetime | None

    @classmethod
    def of(cls, outcome: ReviewOutcome | None) -> MatchResolution | None:
        if outcome is None:
            return None
        return cls(
            status=outcome.status,
            kind=outcome.kind,
            member_id=outcome.member_id,
            resolved_at=outcome.resolved_at,
        )


class MatchOutcomeResponse(MatchResponse):
    """`GET /v1/matches/{id}` for the client that asked, with the `match` scope: its answer as
    `/v1/match` gave it, and the review's current resolution (null when there was no review)."""

    resolution: MatchResolution | None = None


class StoredMatchResponse(_DecisionFields):
    """`GET /v1/matches/{id}`: the whole stored decision. After the retention period the
    demographics in `evidence` are gone (`purged_at`), the rest stays."""

    candidates: list[CandidateSummary]
    evidence: dict[str, Any]
    created_at: datetime
    input_fingerprint: str | None
    timings_ms: dict[str, float]
    purged_at: datetime | None = None
    resolution: MatchResolution | None = None

    @classmethod
    def from_result(
        cls, result: MatchResult, outcome: ReviewOutcome | None = None
    ) -> StoredMatchResponse:
        d = result.decision
        return cls(
            **_decision_fields(result),
            candidates=d.candidates,
            evidence=d.evidence,
            created_at=d.created_at,
            input_fingerprint=d.input_fingerprint or None,  # "" once purged
            timings_ms=d.timings_ms,
            purged_at=d.purged_at,
            resolution=MatchResolution.of(outcome),
        )


def _decision_fields(result: MatchResult) -> dict[str, Any]:
    """The fields the fresh answer and the stored decision share, mapped once."""
    d = result.decision
    return {
        "match_id": d.id,
        "review_item_id": result.review_item_id,
        "outcome": d.outcome,
        "member_id": d.member_id,
        "probability": d.probability,
        "policy_version": d.policy_version,
        "stage": d.stage,
        "reason": d.reason,
    }


def match_response(result: MatchResult) -> MatchResponse:
    """Built straight from the decision: each candidate's summary cut to what the `match` scope
    may see (extra keys of the stored summary are dropped by the model)."""
    return MatchResponse(**_decision_fields(result), candidates=result.decision.candidates)


def stored_match_response(read: MatchWithOutcome) -> StoredMatchResponse | MatchOutcomeResponse:
    """The whole decision for `decisions:read`, the minimal answer for the client that asked."""
    if read.full:
        return StoredMatchResponse.from_result(read.result, read.outcome)
    return MatchOutcomeResponse(
        **_decision_fields(read.result),
        candidates=read.result.decision.candidates,
        resolution=MatchResolution.of(read.outcome),
    )
