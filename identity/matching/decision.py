"""Turn per-candidate verdicts into one outcome with a reason code.

Reason codes are stable strings a caller can branch on and a steward can read:
  positive-rule            one candidate is certain by a positive rule
  multiple-certain         more than one candidate is certain: ambiguity is doubt, so review
  no-candidates            blocking found no one
  all-excluded             every candidate was removed by a negative rule
  unscored-candidates      candidates remain that no rule settles and the policy has no scores
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from identity.matching.policy import DecisionSpec


class Outcome(StrEnum):
    MATCH = "match"
    REVIEW = "review"
    NO_MATCH = "no_match"


class Stage(StrEnum):
    BLOCKING = "blocking"
    DETERMINISTIC = "deterministic"
    PROBABILISTIC = "probabilistic"


class Reason(StrEnum):
    POSITIVE_RULE = "positive-rule"
    MULTIPLE_CERTAIN = "multiple-certain"
    NO_CANDIDATES = "no-candidates"
    ALL_EXCLUDED = "all-excluded"
    UNSCORED_CANDIDATES = "unscored-candidates"


class Status(StrEnum):
    """A candidate's standing after the deterministic stage."""

    CERTAIN = "certain"
    EXCLUDED = "excluded"
    OPEN = "open"


@dataclass(frozen=True, slots=True)
class Decision:
    outcome: Outcome
    stage: Stage
    reason: Reason
    chosen: int | None  # index into the candidate list, when one candidate is the answer
    probability: float | None


def decide_deterministic(statuses: Sequence[Status], spec: DecisionSpec) -> Decision:
    """The decision when no probabilistic stage applies (no candidates open, or no scores)."""
    if not statuses:
        return Decision(Outcome.NO_MATCH, Stage.BLOCKING, Reason.NO_CANDIDATES, None, None)
    certain = [i for i, s in enumerate(statuses) if s is Status.CERTAIN]
    if len(certain) == 1:
        return Decision(Outcome.MATCH, Stage.DETERMINISTIC, Reason.POSITIVE_RULE, certain[0], 1.0)
    if len(certain) > 1:
        return Decision(Outcome.REVIEW, Stage.DETERMINISTIC, Reason.MULTIPLE_CERTAIN, None, None)
    if all(s is Status.EXCLUDED for s in statuses):
        return Decision(Outcome.NO_MATCH, Stage.DETERMINISTIC, Reason.ALL_EXCLUDED, None, 0.0)
    return Decision(
        Outcome(spec.unscored_outcome), Stage.DETERMINISTIC, Reason.UNSCORED_CANDIDATES, None, None
    )
