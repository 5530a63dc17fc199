"""The decision layer, table-driven: statuses and probabilities in, outcome and reason out."""

from __future__ import annotations

import pytest

from identity.matching.decision import Status, decide
from identity.matching.policy import DecisionSpec

SPEC = DecisionSpec(match_probability=0.97, review_probability=0.6, margin=0.1)
C, E, OPEN = Status.CERTAIN, Status.EXCLUDED, Status.OPEN

CASES = [
    # (id, statuses, probabilities, outcome, reason, chosen)
    ("nobody found", [], [], "no_match", "no-candidates", None),
    ("one certain beats a probable one", [C, OPEN], [0.5, 0.99], "match", "positive-rule", 0),
    ("two certain is doubt", [C, C], [1.0, 1.0], "review", "multiple-certain", None),
    ("everyone excluded", [E, E], [0.99, 0.99], "no_match", "all-excluded", None),
    ("excluded ignored, open matches", [E, OPEN], [0.999, 0.98], "match", "match-threshold", 1),
    ("clear winner", [OPEN, OPEN], [0.995, 0.2], "match", "match-threshold", 0),
    ("two close and high", [OPEN, OPEN], [0.999, 0.995], "review", "ambiguous", None),
    ("two close in the band", [OPEN, OPEN], [0.8, 0.75], "review", "ambiguous", None),
    ("best in the review band", [OPEN], [0.8], "review", "review-band", None),
    ("exactly the match threshold", [OPEN], [0.97], "match", "match-threshold", 0),
    (
        "just under the review threshold",
        [OPEN, OPEN],
        [0.59, 0.58],
        "no_match",
        "below-review-threshold",
        None,
    ),
    ("no model", [OPEN], [None], "review", "unscored-candidates", None),
]


@pytest.mark.parametrize(
    ("statuses", "probs", "outcome", "reason", "chosen"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_decision(
    statuses: list[Status], probs: list[float | None], outcome: str, reason: str, chosen: int | None
) -> None:
    d = decide(statuses, probs, SPEC)
    assert (d.outcome.value, d.reason.value, d.chosen) == (outcome, reason, chosen)
