"""Thresholds priced: the grid point with the least expected cost a steward team can staff.

Expected cost per request = (false matches x cost of a false match + missed x cost of a miss +
reviews x cost of a review) / requests. A false match sends one person's history to another; a
miss enrols the person again (a duplicate to find later); a review is a steward's time (whether
it ends in a link or not). With a review capacity and a request volume per day, only points whose
review rate x volume fits the capacity are considered.

The uncertainty is the bootstrap's: the labelled requests resampled with replacement (their
verdict counts at the chosen point are then multinomial with the observed shares), giving a 95 %
interval for each cell of the confusion matrix and for the cost. A cell never observed would get
the interval [0, 0] that way, which overstates what a finite sample shows: its upper bound is
then the rule of three's, 3 / requests.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import yaml

from identity.evaluation.metrics import VERDICTS, Verdict
from identity.evaluation.sweep import Sweep
from identity.matching.policy import DecisionSpec, Policy, parse_policy


@dataclass(frozen=True, slots=True)
class Costs:
    false_match: float
    missed: float
    review: float


@dataclass(frozen=True, slots=True)
class Capacity:
    reviews_per_day: float
    requests_per_day: float


@dataclass(frozen=True, slots=True)
class Interval:
    estimate: float
    low: float
    high: float


@dataclass(frozen=True)
class Recommendation:
    point: int
    spec: DecisionSpec
    cost_per_request: float
    # Per verdict: the share of requests expected (estimate and 95 % bootstrap interval).
    shares: dict[Verdict, Interval]
    cost: Interval
    precision: float
    recall: float
    review_rate: float
    feasible_points: int
    requests_per_day: float | None = None

    def per_day(self, verdict: Verdict) -> Interval | None:
        if self.requests_per_day is None:
            return None
        s, v = self.shares[verdict], self.requests_per_day
        return Interval(s.estimate * v, s.low * v, s.high * v)


class NoFeasiblePoint(ValueError):
    """No grid point keeps the reviews within capacity."""


def expected_costs(sweep: Sweep, costs: Costs) -> npt.NDArray[np.float64]:
    """Expected cost per request at every grid point."""
    total = (
        sweep.count(Verdict.FALSE_MATCH) * costs.false_match
        + sweep.count(Verdict.MISSED) * costs.missed
        + (sweep.count(Verdict.REVIEW) + sweep.count(Verdict.DUPLICATE_REVIEW)) * costs.review
    )
    return np.asarray(total / max(sweep.requests, 1), dtype=np.float64)


def _cost_of(shares: npt.NDArray[np.float64], costs: Costs) -> npt.NDArray[np.float64]:
    code = {v: n for n, v in enumerate(VERDICTS)}
    reviews = shares[..., code[Verdict.REVIEW]] + shares[..., code[Verdict.DUPLICATE_REVIEW]]
    return np.asarray(
        shares[..., code[Verdict.FALSE_MATCH]] * costs.false_match
        + shares[..., code[Verdict.MISSED]] * costs.missed
        + reviews * costs.review,
        dtype=np.float64,
    )


def recommend(
    sweep: Sweep,
    costs: Costs,
    capacity: Capacity | None = None,
    *,
    resamples: int = 2000,
    seed: int = 0,
) -> Recommendation:
    """The cheapest point within capacity (ties: fewer reviews, then the stricter thresholds),
    with its expected confusion matrix and bootstrap intervals."""
    cost = expected_costs(sweep, costs)
    feasible = np.ones(len(cost), dtype=bool)
    if capacity is not None:
        feasible = sweep.review_rate * capacity.requests_per_day <= capacity.reviews_per_day
    if not feasible.any():
        least = float(sweep.review_rate.min()) * (capacity.requests_per_day if capacity else 0)
        raise NoFeasiblePoint(
            f"no grid point keeps reviews within capacity (the fewest: {least:.1f} a day)"
        )
    grid = sweep.grid
    order = np.lexsort(
        (-grid.margin, -grid.review_probability, -grid.match_probability, sweep.review_rate, cost)
    )
    point = int(next(i for i in order if feasible[i]))
    n = max(sweep.requests, 1)
    observed = sweep.counts[point] / n
    rng = np.random.default_rng(seed)
    samples = rng.multinomial(n, observed, size=resamples) / n
    low, high = np.percentile(samples, [2.5, 97.5], axis=0)
    high = np.where(sweep.counts[point] == 0, 3.0 / n, high)
    sampled_cost = _cost_of(samples, costs)
    spec = sweep.spec(point)
    return Recommendation(
        point=point,
        spec=spec,
        cost_per_request=float(cost[point]),
        shares={
            v: Interval(float(observed[i]), float(low[i]), float(high[i]))
            for i, v in enumerate(VERDICTS)
        },
        cost=Interval(
            float(cost[point]),
            float(np.percentile(sampled_cost, 2.5)),
            float(np.percentile(sampled_cost, 97.5)),
        ),
        precision=float(sweep.precision[point]),
        recall=float(sweep.recall[point]),
        review_rate=float(sweep.review_rate[point]),
        feasible_points=int(feasible.sum()),
        requests_per_day=capacity.requests_per_day if capacity else None,
    )


def candidate_label(policy: Policy, spec: DecisionSpec) -> str:
    """The evaluated policy's label with a suffix naming the thresholds (same values, same
    label), within the label's 41 characters."""
    values = f"{spec.match_probability!r}/{spec.review_probability!r}/{spec.margin!r}"
    digest = hashlib.sha256(values.encode()).hexdigest()[:8]
    return f"{policy.label[:27]}-cost.{digest}"


_DECISION_BLOCK = re.compile(r"^decision:[^\n]*\n((?:[ \t]+[^\n]*\n|[ \t]*\n)*)", re.MULTILINE)


def candidate_policy_text(policy: Policy, spec: DecisionSpec, label: str) -> str:
    """The evaluated policy's text with the new `decision:` values and label (comments and
    layout kept where the file is laid out plainly; else the document re-written as YAML)."""
    text = policy.source_text
    block = _DECISION_BLOCK.search(text)
    values = {
        "match_probability": spec.match_probability,
        "review_probability": spec.review_probability,
        "margin": spec.margin,
    }
    edited = None
    if block is not None and re.search(r"^label:", text, re.MULTILINE):
        body = block.group(1)
        for key, value in values.items():
            body, found = re.subn(
                rf"^([ \t]+{key}:[ \t]*)[^\s#]+", rf"\g<1>{value!r}", body, flags=re.MULTILINE
            )
            if found != 1:
                break
        else:
            edited = text[: block.start(1)] + body + text[block.end(1) :]
            edited = re.sub(r"^label:[^\n]*", f'label: "{label}"', edited, count=1, flags=re.M)
    if edited is None or not _decides_with(edited, spec, label):
        document = yaml.safe_load(text)
        document["label"] = label
        document["decision"] = {**document["decision"], **values}
        edited = yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
    return edited


def _decides_with(text: str, spec: DecisionSpec, label: str) -> bool:
    try:
        parsed = parse_policy(text)
    except ValueError:
        return False
    return parsed.document.decision == spec and parsed.label == label
