"""Degeneracy checks: a trained model that would mislead the service is never written.

EM can go wrong quietly: on data without variation it puts every imperfect agreement on the
non-match side (collapse), and a sampling accident can make agreement count against a match. Each
check names the comparison and level, so the analyst sees every reason at once.
"""

from __future__ import annotations

import math

from identity.training.estimates import Estimates, LevelEstimate

COLLAPSED_M = 1e-5
PRIOR_OPEN_RANGE = (1e-9, 0.5)
SMALLEST = 1e-300  # splink refuses an m or u below this (it would underflow to 0)
# Below this share of matches not agreeing exactly, on every comparison at once, the incoming
# records are copies of the master: real sources differ in a few percent of names at least.
NO_VARIATION = 0.01


def _fmt(x: float) -> str:
    return f"{x:.3g}"


def _collapsed(levels: list[LevelEstimate]) -> str | None:
    """All partial levels EM observed have m ~ 0: EM learned that a match only ever agrees
    exactly (or not at all). Judged after the policy's m_bounds: a bound is the analyst saying
    what the data cannot teach, so a bounded level is not collapsed."""
    partial = [lv for lv in levels if lv.kind not in ("exact", "else") and lv.m_trained]
    if not partial or any(lv.m >= COLLAPSED_M for lv in partial):
        return None
    labels = ", ".join(f"{lv.level} m={_fmt(lv.m)}" for lv in partial)
    return (
        f"{levels[0].comparison}: EM collapsed, every partial-agreement level has m < "
        f"{COLLAPSED_M:g} ({labels}): the incoming records never show this kind of variation "
        "(exact copies of the master?); if the data truly cannot teach it, bound it with an "
        "m_bounds m_min"
    )


def _no_variation(by_comparison: dict[str, list[LevelEstimate]]) -> str | None:
    """EM saw (almost) no match that does not agree exactly, on every graded comparison.

    The few true duplicates of a master keep each partial level's m above the collapse line, so
    this catches the same failure from the other side: the share of m outside `exact`.
    """
    shares = {}
    for name, levels in by_comparison.items():
        kinds = {lv.kind for lv in levels}
        if "exact" not in kinds or not kinds - {"exact", "else"}:
            continue  # no partial levels to learn (sex, email, ids) or no exact level (household)
        if not any(lv.m_trained for lv in levels):
            continue
        # Levels EM never observed carry the policy's hand-set m, which says nothing here.
        shares[name] = sum(lv.m for lv in levels if lv.kind != "exact" and lv.m_trained)
    if not shares or any(share >= NO_VARIATION for share in shares.values()):
        return None
    listed = ", ".join(f"{name} {share:.2%}" for name, share in shares.items())
    return (
        f"EM found no real variation: under {NO_VARIATION:.0%} of matches differ at all on any "
        f"of {listed}; the incoming records look like exact copies of the master"
    )


def degeneracy_problems(estimates: Estimates) -> list[str]:
    """Every reason the estimates must not become a policy; empty when they may."""
    problems: list[str] = []
    prior = estimates.prior
    low, high = PRIOR_OPEN_RANGE
    if math.isnan(prior):
        problems.append("prior: NaN")
    elif not low < prior < high:
        problems.append(f"prior: {_fmt(prior)} is outside ({low:g}, {high:g})")

    for run in estimates.em_runs:
        if run.error:
            problems.append(f"EM blocked on {run.blocking_rule}: {run.error}")

    by_comparison: dict[str, list[LevelEstimate]] = {}
    for lv in estimates.levels:
        by_comparison.setdefault(lv.comparison, []).append(lv)

    if no_variation := _no_variation(by_comparison):
        problems.append(no_variation)
    for levels in by_comparison.values():
        if collapsed := _collapsed(levels):
            problems.append(collapsed)
        for lv in levels:
            if any(math.isnan(x) for x in (lv.m, lv.u, lv.m_estimated)):
                problems.append(f"{lv.key}: NaN (m={lv.m}, u={lv.u})")
                continue
            if not (SMALLEST <= lv.m <= 1 and SMALLEST <= lv.u <= 1):
                problems.append(
                    f"{lv.key}: m={_fmt(lv.m)}, u={_fmt(lv.u)} outside [{SMALLEST:g}, 1] "
                    "(an m_bounds m_min for this level keeps m positive)"
                )
                continue
            if lv.kind == "exact" and lv.m < lv.u:
                problems.append(
                    f"{lv.key}: exact agreement counts against a match "
                    f"(m={_fmt(lv.m)} < u={_fmt(lv.u)}, m/u={_fmt(lv.m / lv.u)})"
                )
            if lv.kind == "else" and lv.m > lv.u:
                problems.append(
                    f"{lv.key}: disagreement counts for a match (m={_fmt(lv.m)} > u={_fmt(lv.u)})"
                )
    return problems
