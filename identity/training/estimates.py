"""What training estimated, in the policy's terms (comparison names, level labels), free of splink.

The checks, the policy writer and the report read these; only `train.py` makes them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from identity.matching.policy import MBound, WeightBound


@dataclass(frozen=True, slots=True)
class LevelEstimate:
    comparison: str
    level: str  # the policy's level label
    kind: str
    m: float
    u: float
    m_trained: bool  # EM observed the level at least once; otherwise m is the policy's own
    u_trained: bool  # random sampling saw the level; otherwise u is the policy's own
    m_estimated: float  # m as EM left it, before the policy's m_bounds and weight_bounds
    # The bound that set m last: "m_min", "m_max", "min_weight" or "max_weight"; None when none.
    clipped: str | None = None

    @property
    def key(self) -> str:
        return f"{self.comparison}.{self.level}"

    @property
    def match_weight(self) -> float:
        """log2(m/u), as splink computes it (NaN when either is not a positive number)."""
        if not (self.m > 0 and self.u > 0):
            return math.nan
        return math.log2(self.m / self.u)

    @property
    def weight_estimated(self) -> float:
        """log2(m/u) as EM left it, before any bound."""
        if not (self.m_estimated > 0 and self.u > 0):
            return math.nan
        return math.log2(self.m_estimated / self.u)


@dataclass(frozen=True, slots=True)
class EmRun:
    """One EM session: its blocking rule, the pairs it ran on, and how it ended."""

    blocking_rule: str
    pairs: int  # blocked incoming-member pairs
    iterations: int
    converged: bool
    comparisons: tuple[str, ...]  # the comparisons it estimated (the others are blocked on)
    error: str | None = None  # why the session produced no estimates
    sampled_to: int | None = None  # EM ran on a hash sample of about this many pairs

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "blocking_rule": self.blocking_rule,
            "pairs": self.pairs,
            "iterations": self.iterations,
            "converged": self.converged,
            "estimated": list(self.comparisons),
        }
        if self.sampled_to:
            out["sampled_to"] = self.sampled_to
        if self.error:
            out["error"] = self.error
        return out


@dataclass
class Estimates:
    """The trained model: prior, m/u per level, and how each number came about."""

    prior: float
    levels: list[LevelEstimate]
    prior_rules: tuple[str, ...]
    recall: float
    deterministic_pairs: int  # incoming-master pairs the deterministic rules link
    u_max_pairs: int
    u_seed: int
    em_runs: list[EmRun]
    timings: dict[str, float] = field(default_factory=dict)

    def parameters(self) -> dict[str, dict[str, dict[str, float]]]:
        out: dict[str, dict[str, dict[str, float]]] = {}
        for lv in self.levels:
            out.setdefault(lv.comparison, {})[lv.level] = {"m": lv.m, "u": lv.u}
        return out

    @property
    def clipped(self) -> list[LevelEstimate]:
        return [lv for lv in self.levels if lv.clipped]

    @property
    def u_defaults(self) -> list[str]:
        return [lv.key for lv in self.levels if not lv.u_trained]

    @property
    def m_not_observed(self) -> list[str]:
        return [lv.key for lv in self.levels if not lv.m_trained]


def apply_m_bounds(
    levels: list[LevelEstimate], bounds: Mapping[str, Mapping[str, MBound]]
) -> list[LevelEstimate]:
    """Clip m into the policy's bounds, level by level.

    Clipping only, no renormalising the other levels: a bound says what the data cannot teach
    about one level, not how the rest should move. Levels inside their bounds keep splink's value
    to the bit.
    """
    out = []
    for lv in levels:
        bound = bounds.get(lv.comparison, {}).get(lv.level)
        if bound is None or math.isnan(lv.m):
            out.append(lv)
        elif lv.m < bound.m_min:
            out.append(replace(lv, m=bound.m_min, clipped="m_min"))
        elif lv.m > bound.m_max:
            out.append(replace(lv, m=bound.m_max, clipped="m_max"))
        else:
            out.append(lv)
    return out


def _m_for_weight(u: float, weight: float, side: str) -> float:
    """The m giving log2(m/u) = `weight`, nudged by the last bit so that the weight the service
    computes from the written m is inside the bound, never a rounding past it."""
    m = min(1.0, u * math.pow(2.0, weight))
    if side == "max_weight":
        while m > 0 and math.log2(m / u) > weight:
            m = math.nextafter(m, 0.0)
    else:
        while m < 1 and math.log2(m / u) < weight:
            m = math.nextafter(m, 1.0)
    return m


def apply_weight_bounds(
    levels: list[LevelEstimate], bounds: Mapping[str, Mapping[str, WeightBound]]
) -> list[LevelEstimate]:
    """Clip each bounded level's weight log2(m/u) into the policy's weight_bounds by moving m.

    After the m_bounds: these are the safety bounds (what a relative could exploit), so they win.
    u is the master's own (random sampling), m is what EM learned from a request stream in which
    relatives share the household's facts: m is what moves. No renormalising (as apply_m_bounds).
    """
    out = []
    for lv in levels:
        bound = bounds.get(lv.comparison, {}).get(lv.level)
        weight = lv.match_weight
        if bound is None or math.isnan(weight):
            out.append(lv)
        elif bound.max_weight is not None and weight > bound.max_weight:
            m = _m_for_weight(lv.u, bound.max_weight, "max_weight")
            out.append(replace(lv, m=m, clipped="max_weight"))
        elif bound.min_weight is not None and weight < bound.min_weight:
            m = _m_for_weight(lv.u, bound.min_weight, "min_weight")
            out.append(replace(lv, m=m, clipped="min_weight"))
        else:
            out.append(lv)
    return out
