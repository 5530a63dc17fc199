"""The cost recommendation on a constructed case whose optimum is known, with and without a
review capacity, and the candidate policy it writes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from identity.config import Settings
from identity.evaluation.cost import (
    Capacity,
    Costs,
    NoFeasiblePoint,
    candidate_label,
    candidate_policy_text,
    recommend,
)
from identity.evaluation.metrics import VERDICTS, Verdict
from identity.evaluation.sweep import Grid, Sweep
from identity.matching.policy import find_policy, parse_policy
from tests.conftest import RULES_DIR, TENANT
from tests.evaluation.conftest import run_cli

POLICY = find_policy(RULES_DIR, "default")

# 17 requests: 5 true people the model is sure of (p 0.999), 10 it is less sure of (p 0.9), and
# 2 strangers who look like members (p 0.95). No runner-ups, so the margin does not matter.
PEOPLE = [(0.999, True)] * 5 + [(0.9, True)] * 10 + [(0.95, False)] * 2


def _verdict(p: float, enrolled: bool, match: float, review: float) -> Verdict:
    if p >= match:
        return Verdict.TRUE_MATCH if enrolled else Verdict.FALSE_MATCH
    if p >= review:
        return Verdict.REVIEW
    return Verdict.MISSED if enrolled else Verdict.TRUE_NO_MATCH


def _constructed() -> Sweep:
    grid = Grid.product([0.5, 0.92, 0.96, 0.9999], [0.5, 0.85, 0.93, 0.97], [0.0, 0.1])
    counts = np.zeros((len(grid), len(VERDICTS)), dtype=np.int64)
    for n in range(len(grid)):
        m, r = grid.match_probability[n], grid.review_probability[n]
        for p, enrolled in PEOPLE:
            counts[n, VERDICTS.index(_verdict(p, enrolled, m, r))] += 1
    return Sweep(POLICY, grid, counts, requests=17, enrolled=15, current=None)


COSTS = Costs(false_match=100, missed=10, review=1)


def test_the_cheapest_point_is_chosen() -> None:
    """By hand: match 0.96 matches the 5 sure ones, reviews the other 12 (cost 12); anything
    that matches a stranger pays 100, anything that drops the ten unsure people pays 100.
    Of the two review thresholds that review all 12 (0.5, 0.85), the stricter one is kept, and
    of the margins the larger."""
    rec = recommend(_constructed(), COSTS)
    s = rec.spec
    assert (s.match_probability, s.review_probability, s.margin) == (0.96, 0.85, 0.1)
    assert rec.cost_per_request == pytest.approx(12 / 17)
    assert rec.shares[Verdict.TRUE_MATCH].estimate == pytest.approx(5 / 17)
    assert rec.shares[Verdict.REVIEW].estimate == pytest.approx(12 / 17)
    assert rec.shares[Verdict.FALSE_MATCH].estimate == 0
    assert rec.precision == 1.0
    assert rec.recall == pytest.approx(5 / 15)
    # The bootstrap interval brackets the estimate and is not a point.
    assert rec.cost.low < rec.cost.estimate < rec.cost.high
    review = rec.shares[Verdict.REVIEW]
    assert review.low < review.estimate < review.high
    # Never observed: not [0, 0] but the rule of three's bound.
    assert rec.shares[Verdict.FALSE_MATCH].high == pytest.approx(3 / 17)


def test_a_review_capacity_moves_the_optimum() -> None:
    """At 17 requests a day with 11 reviews a day, 12 reviews no longer fit: the cheapest that
    fits is match 0.96 with review 0.93 (the strangers reviewed, the ten unsure people missed:
    2 + 100), not the 0.92 match that fits with 10 reviews but matches both strangers (210)."""
    rec = recommend(_constructed(), COSTS, Capacity(reviews_per_day=11, requests_per_day=17))
    s = rec.spec
    assert (s.match_probability, s.review_probability) == (0.96, 0.93)
    assert rec.cost_per_request == pytest.approx(102 / 17)
    day = rec.per_day(Verdict.REVIEW)
    assert day is not None
    assert day.estimate == pytest.approx(2)
    with pytest.raises(NoFeasiblePoint):
        recommend(_constructed(), COSTS, Capacity(reviews_per_day=-1, requests_per_day=17))


def test_the_candidate_policy_keeps_everything_but_the_decision_and_label() -> None:
    spec = POLICY.document.decision.model_copy(
        update={"match_probability": 0.996, "review_probability": 0.7, "margin": 0.05}
    )
    label = candidate_label(POLICY, spec)
    text = candidate_policy_text(POLICY, spec, label)
    candidate = parse_policy(text)
    assert candidate.label == label != POLICY.label
    assert candidate.document.decision == spec
    rest = {"decision", "label"}
    assert candidate.document.model_dump(exclude=rest) == POLICY.document.model_dump(exclude=rest)
    assert "# " in text  # the file's comments are kept
    assert candidate_label(POLICY, spec) == label  # same thresholds, same label
    longest = parse_policy(
        POLICY.source_text.replace(f'label: "{POLICY.label}"', f'label: "{"x" * 41}"')
    )
    parse_policy(candidate_policy_text(longest, spec, candidate_label(longest, spec)))


@pytest.mark.usefixtures("master")
def test_the_command_recommends_and_writes_a_candidate(
    settings: Settings,
    active_policy: str,
    labelled_files: tuple[Path, Path],
    tmp_path: Path,
) -> None:
    """On the hand-counted set the one false match is a positive rule's (no threshold moves
    it), q1 is matched at any sane threshold and Ana's duplicate enrolment is either reviewed
    (cost 1) or matched to one of her records (right, cost 0, with no margin): the cheapest
    point costs the false match and q6's miss (no candidates), (1000 + 5) / 6 a request."""
    requests, truth = labelled_files
    written = tmp_path / "candidate.yaml"
    done = run_cli(
        settings,
        *("evaluate", "--tenant", TENANT, "--requests", str(requests), "--truth", str(truth)),
        *("--cost-false-match", "1000", "--cost-missed", "5", "--cost-review", "1"),
        *("--review-capacity", "50", "--volume", "100", "--write-policy", str(written)),
        "--no-progress",
    )
    assert done.returncode == 0, done.stderr
    assert "    false_match        0.1667" in done.stdout
    assert "expected cost per request 167.5000" in done.stdout
    assert "    missed             0.1667" in done.stdout  # q6: no candidates at all
    assert "today's thresholds: precision 0.6667" in done.stdout
    candidate = parse_policy(written.read_text())
    d = candidate.document.decision
    assert (
        f"recommended: match_probability {d.match_probability!r}, review_probability "
        f"{d.review_probability!r}, margin {d.margin!r}"
    ) in done.stdout
    assert f"candidate policy {candidate.label} written to {written}" in done.stdout
