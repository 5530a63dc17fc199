"""Turn per-candidate verdicts and scores into one outcome with a reason code.

Reason codes are stable strings a caller can branch on and a steward can read:
  positive-rule            one candidate is certain by a positive rule (no scoring needed)
  multiple-certain         more than one candidate is certain: ambiguity is doubt, so review
  no-candidates            blocking found no one
  all-excluded             every candidate was removed by a negative rule
  match-threshold          the best candidate reaches the match threshold, clear of the runner-up
  ambiguous                two or more candidates are close: review, never a coin toss
  review-band              the best candidate is in the review band
  below-review-threshold   no candidate is probable enough to review
  unscored-candidates      candidates remain that no rule settles and the policy has no model
  capped-by-guard          the stages chose a candidate, but a guard of the policy did not hold for
                           it (the identity assurance floor: the names do not support the match);
                           at most the guard's cap, and the candidate's evidence names the guard
  steward-decision         a steward linked this request to the candidate earlier (remembered)
  same-person              the certain candidates are records of one person (a steward marked the
                           duplicate enrolment): answered with the surviving record
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
    STEWARD = "steward-decision"


class Reason(StrEnum):
    POSITIVE_RULE = "positive-rule"
    MULTIPLE_CERTAIN = "multiple-certain"
    NO_CANDIDATES = "no-candidates"
    ALL_EXCLUDED = "all-excluded"
    MATCH_THRESHOLD = "match-threshold"
    AMBIGUOUS = "ambiguous"
    REVIEW_BAND = "review-band"
    BELOW_REVIEW_THRESHOLD = "below-review-threshold"
    UNSCORED_CANDIDATES = "unscored-candidates"
    CAPPED_BY_GUARD = "capped-by-guard"
    STEWARD_DECISION = "steward-decision"
    SAME_PERSON = "same-person"


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


def decide(
    statuses: Sequence[Status],
    probabilities: Sequence[float | None],
    spec: DecisionSpec,
) -> Decision:
    """Rules first (certain / excluded), then thresholds and margin over the open candidates."""
    if not statuses:
        return Decision(Outcome.NO_MATCH, Stage.BLOCKING, Reason.NO_CANDIDATES, None, None)
    certain = [i for i, s in enumerate(statuses) if s is Status.CERTAIN]
    if len(certain) == 1:
        return Decision(Outcome.MATCH, Stage.DETERMINISTIC, Reason.POSITIVE_RULE, certain[0], 1.0)
    if len(certain) > 1:
        return Decision(Outcome.REVIEW, Stage.DETERMINISTIC, Reason.MULTIPLE_CERTAIN, None, None)
    open_ = [i for i, s in enumerate(statuses) if s is Status.OPEN]
    if not open_:
        return Decision(Outcome.NO_MATCH, Stage.DETERMINISTIC, Reason.ALL_EXCLUDED, None, 0.0)
    scored = [(p, i) for i in open_ if (p := probabilities[i]) is not None]
    if not scored:
        return Decision(
            Outcome(spec.unscored_outcome),
            Stage.DETERMINISTIC,
            Reason.UNSCORED_CANDIDATES,
            None,
            None,
        )
    return _decide_probabilistic(sorted(scored, reverse=True), spec)


def _decide_probabilistic(ranked: list[tuple[float, int]], spec: DecisionSpec) -> Decision:
    best, index = ranked[0]
    runner_up = ranked[1][0] if len(ranked) > 1 else 0.0
    close = best - runner_up < spec.margin and runner_up >= spec.review_probability
    p = Stage.PROBABILISTIC
    if close:
        return Decision(Outcome.REVIEW, p, Reason.AMBIGUOUS, None, best)
    if best >= spec.match_probability:
        if best - runner_up >= spec.margin:
            return Decision(Outcome.MATCH, p, Reason.MATCH_THRESHOLD, index, best)
        return Decision(Outcome.REVIEW, p, Reason.AMBIGUOUS, None, best)
    if best >= spec.review_probability:
        return Decision(Outcome.REVIEW, p, Reason.REVIEW_BAND, None, best)
    return Decision(Outcome.NO_MATCH, p, Reason.BELOW_REVIEW_THRESHOLD, None, best)
