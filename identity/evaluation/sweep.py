"""Thresholds and margin swept under the real decision, without deciding each request again.

Candidates, rule verdicts, guards and weights do not depend on the decision thresholds; only the
probabilistic stage does, and it reads just three numbers of a request: the best open
candidate's probability, the runner-up's, and which candidate is best. So each request is
reduced once to those (or, when the rules settled it, to its fixed verdict); what a match
becomes is learnt once, by deciding the request with the real `Matcher` under thresholds that
match its best candidate (so the guards have their say); and `decision.PROBABILISTIC_STAGE`, the
table `decide` itself runs, is evaluated over the whole grid at once with numpy.

One case is not reduced: a tie that stewards' same-person marks could settle (the
`steward-decision` stage reads the thresholds to know who is tied). Such requests are re-decided
by the real `Matcher` at each grid point: there are few, and exactness beats speed.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import numpy.typing as npt

from identity.evaluation.metrics import VERDICTS, Verdict, classify, duplicate_pair, verdict_of
from identity.evaluation.run import Evaluation, QueryResult
from identity.matching.decision import (
    PROBABILISTIC_STAGE,
    Outcome,
    Reason,
    Stage,
    contest,
    decide,
    ranked_open,
)
from identity.matching.engine import Matcher
from identity.matching.policy import DecisionSpec, Policy

_CODE = {v: n for n, v in enumerate(VERDICTS)}
# Thresholds under which the best open candidate is always matched (margin 0: never ambiguous).
_EAGER = DecisionSpec(match_probability=5e-324, review_probability=5e-324, margin=0.0)
# Grid points decided together (bounds the (points x requests) arrays' memory).
_BLOCK = 200


@dataclass(frozen=True, slots=True)
class Grid:
    """Every combination of the three values, keeping those a policy may hold (review
    threshold not above the match threshold)."""

    match_probability: npt.NDArray[np.float64]
    review_probability: npt.NDArray[np.float64]
    margin: npt.NDArray[np.float64]

    @classmethod
    def product(
        cls, match: Sequence[float], review: Sequence[float], margin: Sequence[float]
    ) -> Grid:
        m, r, g = np.meshgrid(np.unique(match), np.unique(review), np.unique(margin), indexing="ij")
        keep = r <= m
        return cls(m[keep], r[keep], g[keep])

    @classmethod
    def around(cls, spec: DecisionSpec, size: tuple[int, int, int] = (20, 10, 6)) -> Grid:
        """A default grid (match thresholds 0.5 to 1 - 1e-7, review thresholds 0.1 to
        1 - 1e-6, both spaced evenly in log-odds; margins 0 to 0.5) with the policy's own values
        added, so its current point is on the grid."""
        match = 1.0 - np.logspace(np.log10(0.5), -7, size[0])
        review = 1.0 - np.logspace(np.log10(0.9), -6, size[1])
        margin = np.concatenate([[0.0], np.logspace(-3, np.log10(0.5), size[2] - 1)])
        return cls.product(
            [*np.round(match, 9), spec.match_probability],
            [*np.round(review, 9), spec.review_probability],
            [*np.round(margin, 6), spec.margin],
        )

    def __len__(self) -> int:
        return len(self.match_probability)

    def spec(self, point: int, like: DecisionSpec) -> DecisionSpec:
        return like.model_copy(
            update={
                "match_probability": float(self.match_probability[point]),
                "review_probability": float(self.review_probability[point]),
                "margin": float(self.margin[point]),
            }
        )

    def index_of(self, spec: DecisionSpec) -> int | None:
        hits = np.flatnonzero(
            (self.match_probability == spec.match_probability)
            & (self.review_probability == spec.review_probability)
            & (self.margin == spec.margin)
        )
        return int(hits[0]) if len(hits) else None


@dataclass(frozen=True, slots=True)
class _Columns:
    """The thresholds of a block of grid points as (points, 1) columns: `Thresholds` for the
    decision table, broadcast against (1, requests) rows."""

    match_probability: npt.NDArray[np.float64]
    review_probability: npt.NDArray[np.float64]
    margin: npt.NDArray[np.float64]


def with_decision(policy: Policy, spec: DecisionSpec) -> Policy:
    """The policy deciding with other thresholds (in memory only: its version is the old one's;
    a policy to keep is written by `cost.candidate_policy_text`)."""
    document = policy.document.model_copy(update={"decision": spec})
    return policy.model_copy(update={"document": document})


@dataclass(frozen=True, slots=True)
class _Reduced:
    """The decided requests, reduced: fixed verdict counts, the probabilistic ones' numbers and
    verdict per table row, and the ones re-decided in full."""

    fixed: npt.NDArray[np.int64]  # (requests,) verdict codes, -1 where not fixed
    best: npt.NDArray[np.float64]  # (probabilistic,)
    runner_up: npt.NDArray[np.float64]
    row_verdicts: npt.NDArray[np.int8]  # (probabilistic, table rows)
    probabilistic: npt.NDArray[np.int64]  # their positions among the requests
    exact: tuple[int, ...]  # positions re-decided by the Matcher at each point


def _survivor_tie_possible(policy: Policy, result: QueryResult) -> bool:
    spec = policy.document.steward_decisions
    return (
        spec is not None
        and spec.same_person == "survivor"
        and any(c.survivor is not None for c in result.candidates)
    )


def _reduce(matcher: Matcher, results: Sequence[QueryResult]) -> _Reduced:
    spec = matcher.policy.document.decision
    eager = Matcher(
        with_decision(
            matcher.policy, _EAGER.model_copy(update={"unscored_outcome": spec.unscored_outcome})
        )
    )
    fixed = np.full(len(results), -1, dtype=np.int64)
    best: list[float] = []
    runner_up: list[float] = []
    rows: list[list[int]] = []
    positions: list[int] = []
    exact: list[int] = []
    for n, r in enumerate(results):
        assert r.resolution is not None
        assert r.query is not None
        assert r.verdict is not None
        verdicts = r.resolution.verdicts
        statuses = [v.status for v in verdicts]
        probabilities = [v.probability for v in verdicts]
        if decide(statuses, probabilities, spec).stage is not Stage.PROBABILISTIC:
            fixed[n] = _CODE[r.verdict]  # the rules (or blocking) decided: no threshold matters
            continue
        if _survivor_tie_possible(matcher.policy, r):
            exact.append(n)
            continue
        b, ru, index = contest(ranked_open(statuses, probabilities))
        # What a match on the best candidate becomes: the real pipeline run with thresholds
        # that match it (so the guards, and anything else after `decide`, have their say).
        own = r.resolution.decision
        if own.reason in (Reason.MATCH_THRESHOLD, Reason.CAPPED_BY_GUARD):
            forced = r.resolution  # it was a match on the best: the pipeline already said
        else:
            forced = eager.resolve(r.query, r.candidates, r.learned)
        assert forced.decision.reason is not Reason.SAME_PERSON
        as_match = forced.decision
        assert as_match.outcome is not Outcome.MATCH or as_match.chosen == index
        duplicate = duplicate_pair(verdicts, r.truth)
        member = forced.member.member_id if forced.member is not None else None
        by_outcome = {
            outcome: classify(
                (as_match.outcome if outcome is Outcome.MATCH else outcome).value,
                member,
                r.truth,
                duplicate,
            )
            for outcome in Outcome
        }
        rows.append([_CODE[by_outcome[outcome]] for outcome, _, _ in PROBABILISTIC_STAGE])
        best.append(b)
        runner_up.append(ru)
        positions.append(n)
    return _Reduced(
        fixed=fixed,
        best=np.asarray(best, dtype=np.float64),
        runner_up=np.asarray(runner_up, dtype=np.float64),
        row_verdicts=np.asarray(rows, dtype=np.int8).reshape(len(rows), len(PROBABILISTIC_STAGE)),
        probabilistic=np.asarray(positions, dtype=np.int64),
        exact=tuple(exact),
    )


@dataclass(frozen=True)
class Sweep:
    """Verdict counts at every grid point (columns in `metrics.VERDICTS` order)."""

    policy: Policy  # the evaluated policy: the grid's points are its decision, re-valued
    grid: Grid
    counts: npt.NDArray[np.int64]  # (points, verdicts)
    requests: int
    enrolled: int
    current: int | None  # the evaluated policy's own point, when on the grid
    _evaluation: Evaluation | None = None
    _reduced: _Reduced | None = None
    # Seconds spent reducing the requests (once) and deciding the whole grid.
    seconds: tuple[float, float] = (0.0, 0.0)

    def spec(self, point: int) -> DecisionSpec:
        return self.grid.spec(point, self.policy.document.decision)

    def count(self, verdict: Verdict) -> npt.NDArray[np.int64]:
        return self.counts[:, _CODE[verdict]]

    @cached_property
    def precision(self) -> npt.NDArray[np.float64]:
        """1.0 where nothing is matched."""
        right = self.count(Verdict.TRUE_MATCH)
        matches = right + self.count(Verdict.FALSE_MATCH)
        return np.where(matches > 0, right / np.maximum(matches, 1), 1.0)

    @cached_property
    def recall(self) -> npt.NDArray[np.float64]:
        right = self.count(Verdict.TRUE_MATCH) + self.count(Verdict.DUPLICATE_REVIEW)
        return right / max(self.enrolled, 1)

    @cached_property
    def review_rate(self) -> npt.NDArray[np.float64]:
        reviews = self.count(Verdict.REVIEW) + self.count(Verdict.DUPLICATE_REVIEW)
        return reviews / max(self.requests, 1)

    def verdicts_at(self, point: int) -> npt.NDArray[np.int64]:
        """Every decided request's verdict code at one grid point, in `Evaluation.decided`
        order (a report's false matches and misses at a chosen point)."""
        if self._evaluation is None or self._reduced is None:
            raise ValueError("this sweep was not computed from an evaluation")
        codes = _verdicts(self._evaluation, self._reduced, self.grid, point, point + 1)
        return np.asarray(codes[0], dtype=np.int64)


def _verdicts(
    evaluation: Evaluation, reduced: _Reduced, grid: Grid, start: int, stop: int
) -> npt.NDArray[np.int64]:
    """(points, requests) verdict codes for grid points start..stop."""
    columns = _Columns(
        grid.match_probability[start:stop, None],
        grid.review_probability[start:stop, None],
        grid.margin[start:stop, None],
    )
    points = stop - start
    out = np.broadcast_to(reduced.fixed, (points, len(reduced.fixed))).copy()
    if len(reduced.probabilistic):
        best, runner_up = reduced.best[None, :], reduced.runner_up[None, :]
        shape = (points, len(reduced.best))
        holds = [
            np.broadcast_to(np.asarray(cond(best, runner_up, columns)), shape)
            for _, _, cond in PROBABILISTIC_STAGE
        ]
        row = np.select(holds, list(range(len(holds))), default=len(holds) - 1)
        taken = np.take_along_axis(reduced.row_verdicts.T.astype(np.int64), row, axis=0)
        out[:, reduced.probabilistic] = taken
    if reduced.exact:
        decided = evaluation.decided
        base = evaluation.policy
        for p in range(start, stop):
            matcher = Matcher(with_decision(base, grid.spec(p, base.document.decision)))
            for n in reduced.exact:
                r = decided[n]
                assert r.query is not None
                out[p - start, n] = _CODE[
                    verdict_of(matcher.resolve(r.query, r.candidates, r.learned), r.truth)
                ]
    return out


def sweep(evaluation: Evaluation, grid: Grid | None = None) -> Sweep:
    """Verdict counts at every point of `grid` (default: `Grid.around` the policy's values)."""
    spec = evaluation.policy.document.decision
    grid = grid if grid is not None else Grid.around(spec)
    decided = evaluation.decided
    started = time.perf_counter()
    reduced = _reduce(Matcher(evaluation.policy), decided)
    reduced_at = time.perf_counter()
    counts = np.zeros((len(grid), len(VERDICTS)), dtype=np.int64)
    for start in range(0, len(grid), _BLOCK):
        stop = min(len(grid), start + _BLOCK)
        codes = _verdicts(evaluation, reduced, grid, start, stop)
        for code in range(len(VERDICTS)):
            counts[start:stop, code] = (codes == code).sum(axis=1)
    return Sweep(
        policy=evaluation.policy,
        grid=grid,
        counts=counts,
        requests=len(decided),
        enrolled=sum(bool(r.truth) for r in decided),
        current=grid.index_of(spec),
        _evaluation=evaluation,
        _reduced=reduced,
        seconds=(reduced_at - started, time.perf_counter() - reduced_at),
    )
