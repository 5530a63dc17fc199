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

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

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
    if not any(s is Status.OPEN for s in statuses):
        return Decision(Outcome.NO_MATCH, Stage.DETERMINISTIC, Reason.ALL_EXCLUDED, None, 0.0)
    scored = ranked_open(statuses, probabilities)
    if not scored:
        return Decision(
            Outcome(spec.unscored_outcome),
            Stage.DETERMINISTIC,
            Reason.UNSCORED_CANDIDATES,
            None,
            None,
        )
    return _decide_probabilistic(scored, spec)


def ranked_open(
    statuses: Sequence[Status], probabilities: Sequence[float | None]
) -> list[tuple[float, int]]:
    """The open, scored candidates as (probability, index), best first: what the probabilistic
    stage compares."""
    scored = [
        (p, i)
        for i, s in enumerate(statuses)
        if s is Status.OPEN and (p := probabilities[i]) is not None
    ]
    return sorted(scored, reverse=True)


def contest(ranked: Sequence[tuple[float, int]]) -> tuple[float, float, int]:
    """(best probability, runner-up's (0 when alone), best's index) of `ranked_open`'s list."""
    best, index = ranked[0]
    return best, ranked[1][0] if len(ranked) > 1 else 0.0, index


class Thresholds(Protocol):
    """What the probabilistic stage reads of a decision spec: a `DecisionSpec`, or for a sweep
    the same three names holding arrays of grid values."""

    @property
    def match_probability(self) -> Any: ...
    @property
    def review_probability(self) -> Any: ...
    @property
    def margin(self) -> Any: ...


# best, runner-up, thresholds -> does the row hold
Condition = Callable[[Any, Any, Thresholds], Any]


def _close(best: Any, runner_up: Any, t: Thresholds) -> Any:
    return (best - runner_up < t.margin) & (runner_up >= t.review_probability)


def _clear_winner(best: Any, runner_up: Any, t: Thresholds) -> Any:
    return (best >= t.match_probability) & (best - runner_up >= t.margin)


def _reaches_match(best: Any, runner_up: Any, t: Thresholds) -> Any:
    return best >= t.match_probability


def _reaches_review(best: Any, runner_up: Any, t: Thresholds) -> Any:
    return best >= t.review_probability


def _always(best: Any, runner_up: Any, t: Thresholds) -> Any:
    return True


# The probabilistic stage, as one ordered table: the first row whose condition holds decides.
# The conditions only compare with `>=`, `<`, `-` and `&`, so the same table decides one request
# (floats) and every point of a threshold sweep at once (numpy arrays): one logic for both.
PROBABILISTIC_STAGE: tuple[tuple[Outcome, Reason, Condition], ...] = (
    (Outcome.REVIEW, Reason.AMBIGUOUS, _close),
    (Outcome.MATCH, Reason.MATCH_THRESHOLD, _clear_winner),
    (Outcome.REVIEW, Reason.AMBIGUOUS, _reaches_match),
    (Outcome.REVIEW, Reason.REVIEW_BAND, _reaches_review),
    (Outcome.NO_MATCH, Reason.BELOW_REVIEW_THRESHOLD, _always),
)


def _decide_probabilistic(ranked: list[tuple[float, int]], spec: DecisionSpec) -> Decision:
    best, runner_up, index = contest(ranked)
    for outcome, reason, holds in PROBABILISTIC_STAGE:
        if holds(best, runner_up, spec):
            chosen = index if outcome is Outcome.MATCH else None
            return Decision(outcome, Stage.PROBABILISTIC, reason, chosen, best)
    raise AssertionError("the last row always holds")  # pragma: no cover
