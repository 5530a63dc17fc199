"""Response models of /v1/match and /v1/matches/{id}."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

from identity.resolution.service import MatchResult


class CandidateSummary(BaseModel):
    member_id: str
    status: Literal["certain", "excluded", "open"]
    probability: float | None = None
    match_weight: float | None = None
    blocking_keys: list[str]
    rules_fired: list[str]


class MatchResponse(BaseModel):
    match_id: str
    review_item_id: str | None = None
    outcome: Literal["match", "review", "no_match"]
    member_id: str | None
    probability: float | None
    policy_version: str
    stage: str
    reason: str
    candidates: list[CandidateSummary]
    evidence: dict[str, Any]


class StoredMatchResponse(MatchResponse):
    created_at: datetime
    input_fingerprint: str
    timings_ms: dict[str, float]

    @classmethod
    def from_result(cls, result: MatchResult) -> StoredMatchResponse:
        d = result.decision
        return cls(
            **_answer_fields(result),
            created_at=d.created_at,
            input_fingerprint=d.input_fingerprint,
            timings_ms=d.timings_ms,
        )


def _answer_fields(result: MatchResult) -> dict[str, Any]:
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
        "candidates": [CandidateSummary.model_validate(c) for c in d.candidates],
        "evidence": d.evidence,
    }


def match_response(result: MatchResult) -> MatchResponse:
    """Built straight from the decision: the same fields and values as the stored response
    without its extras, validated once (dumping and re-validating the evidence cost more than
    the rest of the answer)."""
    return MatchResponse(**_answer_fields(result))
