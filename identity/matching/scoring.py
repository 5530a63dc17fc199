"""Fellegi-Sunter scoring: comparison levels -> Bayes factors -> match weight -> probability.

Exactly splink's arithmetic, so a policy trained with splink scores the same online (proven by
tests/training/test_parity.py): per comparison the level's log2(m/u), plus on a term-frequency
comparison's exact level log2(u_exact) - log2(max(tf, minimum_u)) (0 when the value has no listed
frequency, as splink does when both tf are null); match weight = log2(prior/(1-prior)) + their
sum; probability = 2^w / (1 + 2^w). A null level is no evidence: Bayes factor 1, weight 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from identity.matching.comparison_columns import TEXT_COLUMNS
from identity.matching.comparisons import (
    COMPARISONS,
    NULL_LABEL,
    ComparisonPlan,
    GammaArray,
    gammas_of,
    value_column,
)
from identity.matching.policy import ComparisonSpec, ModelSpec, TermFrequencies
from identity.matching.record import StandardRecord

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class FieldScore:
    comparison: str
    gamma: int
    label: str
    left: Any
    right: Any
    m: float | None
    u: float | None
    bayes_factor: float
    tf_adjustment: float  # log2 weight added by term frequency
    weight: float  # log2(bayes_factor) + tf_adjustment

    def as_dict(self) -> dict[str, Any]:
        return {
            "comparison": self.comparison,
            "gamma": self.gamma,
            "label": self.label,
            "left": self.left,
            "right": self.right,
            "m": self.m,
            "u": self.u,
            "bayes_factor": self.bayes_factor,
            "tf_adjustment": self.tf_adjustment,
            "weight": self.weight,
        }


@dataclass(frozen=True, slots=True)
class Scores:
    """All of one query's candidates scored at once, row i for candidate i: the levels
    (splink's gammas, -1 null) and term-frequency adjustments per comparison, the match weight
    and the probability. Plain lists: a request reads them back one value at a time."""

    gammas: list[list[int]]
    tf: list[list[float]]
    weights: list[float]
    probabilities: list[float]


@dataclass(frozen=True, slots=True)
class PairScore:
    prior_weight: float
    match_weight: float
    probability: float
    fields: tuple[FieldScore, ...]

    def as_dict(self) -> dict[str, Any]:
        """JSON-able evidence for a waterfall chart: start at `prior_weight`, add each field's
        `weight` in order, end at `match_weight`."""
        return {
            "prior_weight": self.prior_weight,
            "match_weight": self.match_weight,
            "probability": self.probability,
            "fields": [f.as_dict() for f in self.fields],
        }


def probability_from_weight(weight: float) -> float:
    """2^w / (1 + 2^w), computed as splink does so that neither side overflows."""
    if weight >= 0:
        return 1.0 / (1.0 + math.pow(2.0, -weight))
    odds = math.pow(2.0, weight)
    return odds / (1.0 + odds)


def prior_weight(prior: float) -> float:
    return math.log2(prior / (1.0 - prior))


def checked_frequencies(name: str, tf: TermFrequencies) -> dict[str, float]:
    """A frequency must be a probability above 0: log2(0) has no weight."""
    bad = sorted(v for v, f in tf.values.items() if not 0.0 < f <= 1.0)
    if bad:
        raise ValueError(f"term_frequencies.{name}: frequencies must be in (0, 1]; see {bad[:3]}")
    return dict(tf.values)


@dataclass(frozen=True, slots=True)
class _Level:
    label: str
    m: float | None
    u: float | None
    bayes_factor: float
    log2_bf: float


class _ComparisonModel:
    """One comparison's parameters, indexed by gamma + 1 (index 0 is the null level)."""

    __slots__ = (
        "constants",
        "exact_gamma",
        "frequencies",
        "levels",
        "log2_u_exact",
        "min_u",
        "name",
        "evidence",
        "text",
        "weights",
    )

    def __init__(self, spec: ComparisonSpec, model: ModelSpec) -> None:
        params = model.parameters[spec.name]
        self.name = spec.name
        self.evidence = COMPARISONS[spec.name].evidence
        by_gamma = dict(zip(gammas_of(spec), spec.levels, strict=True))
        levels = [_Level(NULL_LABEL, None, None, 1.0, 0.0)]
        for gamma in range(len(spec.levels)):
            level = by_gamma[gamma]
            p = params[level.label]
            levels.append(_Level(level.label, p.m, p.u, p.m / p.u, math.log2(p.m / p.u)))
        self.levels = tuple(levels)
        # Each level's constant part of the evidence, stored once per decision (`compact`).
        self.constants = tuple((lv.label, lv.m, lv.u, lv.bayes_factor, lv.log2_bf) for lv in levels)
        self.weights: FloatArray = np.array([lv.log2_bf for lv in levels], dtype=np.float64)
        # Term frequencies: only on the exact level (the first, by policy validation).
        self.exact_gamma = -2
        self.frequencies: dict[str, float] = {}
        self.min_u = 0.0
        self.log2_u_exact = 0.0
        self.text: Callable[[StandardRecord], str | None] | None = None
        column = value_column(spec.name)
        if spec.term_frequency and column is not None and spec.levels[0].kind == "exact":
            self.exact_gamma = len(spec.levels) - 1
            self.log2_u_exact = math.log2(params[spec.levels[0].label].u)
            self.text = TEXT_COLUMNS[column]
            tf = model.term_frequencies.get(spec.name)
            if tf is not None:
                self.frequencies = checked_frequencies(spec.name, tf)
                self.min_u = tf.minimum_u

    def tf_adjustment(self, query: StandardRecord) -> float:
        """The exact level's adjustment for this query: both sides share the query's value."""
        if self.text is None:
            return 0.0
        tf = self.frequencies.get(self.text(query) or "")
        if tf is None:
            return 0.0
        return 1.0 * (self.log2_u_exact - math.log2(max(tf, self.min_u)))


class FellegiSunter:
    """A policy's comparisons and model made ready to score; built once per policy version."""

    def __init__(self, comparisons: Sequence[ComparisonSpec], model: ModelSpec) -> None:
        self.plan = ComparisonPlan(comparisons)
        self.prior_weight = prior_weight(model.prior)
        self._models = tuple(_ComparisonModel(c, model) for c in comparisons)
        # All level weights in one table, so that a request looks them all up in one step:
        # comparison j's weight for gamma g is at _offsets[j] + g + 1.
        sizes = [len(cm.weights) for cm in self._models]
        self._table: FloatArray = np.concatenate(
            [np.zeros(0), *(cm.weights for cm in self._models)]
        )
        self._offsets = np.cumsum([0, *sizes[:-1]], dtype=np.int64) + 1
        self._exact_gammas = np.array([cm.exact_gamma for cm in self._models], dtype=np.int64)

    def weights(
        self, query: StandardRecord, candidates: Sequence[StandardRecord]
    ) -> tuple[GammaArray, FloatArray, FloatArray]:
        """(gammas, tf adjustments, match weights): the numbers alone. The weight is summed left
        to right as splink's SQL does: prior, then each comparison's level weight and tf."""
        gammas = self.plan.vectors(query, candidates)
        n, k = gammas.shape
        adjustments = np.array([cm.tf_adjustment(query) for cm in self._models], dtype=np.float64)
        tf: FloatArray = np.where(gammas == self._exact_gammas, adjustments, 0.0)
        parts = np.empty((n, 1 + 2 * k), dtype=np.float64)
        parts[:, 0] = self.prior_weight
        parts[:, 1::2] = self._table[gammas + self._offsets]
        parts[:, 2::2] = tf
        total: FloatArray = np.cumsum(parts, axis=1)[:, -1]
        return gammas, tf, total

    def score_all(self, query: StandardRecord, candidates: Sequence[StandardRecord]) -> Scores:
        """Every candidate's levels and weights, as plain rows: what a request decides with.
        The per-field evidence objects are made only when asked for (`pair_score`)."""
        gammas, tf, total = self.weights(query, candidates)
        weights = total.tolist()
        return Scores(
            gammas.tolist(),
            tf.tolist(),
            weights,
            [probability_from_weight(w) for w in weights],
        )

    def score(self, query: StandardRecord, candidates: Sequence[StandardRecord]) -> list[PairScore]:
        """Every candidate's score with its evidence, one FieldScore per comparison."""
        scores = self.score_all(query, candidates)
        return [self.pair_score(query, c, scores, i) for i, c in enumerate(candidates)]

    def pair_score(
        self, query: StandardRecord, candidate: StandardRecord, scores: Scores, i: int
    ) -> PairScore:
        """Candidate `i` of `scores` as a PairScore (its FieldScores built from the rows)."""
        fields = tuple(
            FieldScore(
                cm.name,
                gamma,
                (level := cm.levels[gamma + 1]).label,
                cm.evidence(query),
                cm.evidence(candidate),
                level.m,
                level.u,
                level.bayes_factor,
                adjustment,
                level.log2_bf + adjustment,
            )
            for cm, gamma, adjustment in zip(
                self._models, scores.gammas[i], scores.tf[i], strict=True
            )
        )
        return PairScore(self.prior_weight, scores.weights[i], scores.probabilities[i], fields)

    def levels(self, scores: Scores, i: int) -> dict[str, str]:
        """Comparison -> the level label candidate `i` fell in (what guards read)."""
        return {
            cm.name: cm.levels[gamma + 1].label
            for cm, gamma in zip(self._models, scores.gammas[i], strict=True)
        }

    def compact(self, query: StandardRecord, scores: Scores) -> dict[str, Any]:
        """What the score evidence of all candidates shares, once (`identity.matching.evidence`
        stores it, `identity.matching.evidence_render` renders from it): the prior weight and,
        per comparison, its name, the query's side and each level some candidate fell in as
        [gamma, label, m, u, bayes_factor, log2(bayes_factor)]."""
        comparisons = []
        columns = zip(*scores.gammas, strict=True) if scores.gammas else ((),) * len(self._models)
        for cm, column in zip(self._models, columns, strict=True):
            comparisons.append(
                [
                    cm.name,
                    cm.evidence(query),
                    [[gamma, *cm.constants[gamma + 1]] for gamma in sorted(set(column))],
                ]
            )
        return {"prior_weight": self.prior_weight, "comparisons": comparisons}
