"""Fellegi-Sunter scoring on examples small enough to check by hand.

The model: prior 0.2 (prior weight log2(0.2/0.8) = -2), and
  given_name  exact m 0.8 u 0.05 (bf 16, weight 4) | jaro_winkler_0.9 m 0.1 u 0.15
              | else m 0.1 u 0.8 (bf 1/8, weight -3); term frequencies JOHN 0.1, ZEBEDEE 0.001
  sex         exact m 0.8 u 0.4 (bf 2, weight 1) | else m 0.2 u 0.6
"""

from __future__ import annotations

import json
import math

import pytest

from identity.matching.policy import (
    ComparisonSpec,
    LevelParameters,
    LevelSpec,
    ModelSpec,
    TermFrequencies,
)
from identity.matching.record import StandardRecord
from identity.matching.scoring import FellegiSunter, probability_from_weight

COMPARISONS = (
    ComparisonSpec(
        name="given_name",
        levels=(
            LevelSpec(kind="exact"),
            LevelSpec(kind="jaro_winkler", threshold=0.9),
            LevelSpec(kind="else"),
        ),
        term_frequency=True,
    ),
    ComparisonSpec(name="sex", levels=(LevelSpec(kind="exact"), LevelSpec(kind="else"))),
)


def _model(minimum_u: float = 0.0, values: dict[str, float] | None = None) -> ModelSpec:
    p = LevelParameters
    return ModelSpec(
        prior=0.2,
        parameters={
            "given_name": {
                "exact": p(m=0.8, u=0.05),
                "jaro_winkler_0.9": p(m=0.1, u=0.15),
                "else": p(m=0.1, u=0.8),
            },
            "sex": {"exact": p(m=0.8, u=0.4), "else": p(m=0.2, u=0.6)},
        },
        term_frequencies={
            "given_name": TermFrequencies(
                values={"JOHN": 0.1, "ZEBEDEE": 0.001} if values is None else values,
                minimum_u=minimum_u,
            )
        },
    )


def person(given: str | None, sex: str | None = None) -> StandardRecord:
    return StandardRecord(given=given, sex=sex)


@pytest.fixture
def scorer() -> FellegiSunter:
    return FellegiSunter(COMPARISONS, _model())


# (left, right, given tf adjustment, match weight, probability) — worked out by hand
CASES = [
    # ANN has no listed frequency: no adjustment. -2 + 4 + 1 = 3; 2^3/(1+2^3) = 8/9
    (person("ANN", "F"), person("ANN", "F"), 0.0, 3.0, 8 / 9),
    # JOHN is common: log2(0.05) - log2(0.1) = -1. -2 + 4 - 1 + 1 = 2 -> 4/5
    (person("JOHN", "M"), person("JOHN", "M"), -1.0, 2.0, 4 / 5),
    # ZEBEDEE is rare: log2(0.05 / 0.001) = log2(50)
    (person("ZEBEDEE", "M"), person("ZEBEDEE", "M"), math.log2(50), 3 + math.log2(50), None),
    # different names, sex missing: -2 - 3 + 0 = -5 -> 1/33
    (person("ANN", None), person("MAUD", "F"), 0.0, -5.0, 1 / 33),
    # a near spelling of JOHN is not the exact level: no tf adjustment.
    # -2 + log2(0.1/0.15) + log2(0.2/0.6)
    (
        person("JOHN", "M"),
        person("JOHNN", "F"),
        0.0,
        -2 + math.log2(0.1 / 0.15) + math.log2(0.2 / 0.6),
        None,
    ),
    # nothing on either side: the prior alone
    (person(None), person(None), 0.0, -2.0, 0.2),
]


@pytest.mark.parametrize(("left", "right", "tf", "weight", "probability"), CASES)
def test_hand_computed(
    scorer: FellegiSunter,
    left: StandardRecord,
    right: StandardRecord,
    tf: float,
    weight: float,
    probability: float | None,
) -> None:
    (score,) = scorer.score(left, [right])
    assert score.prior_weight == pytest.approx(-2.0)
    assert score.fields[0].tf_adjustment == pytest.approx(tf)
    assert score.match_weight == pytest.approx(weight)
    expected = probability if probability is not None else 2**weight / (1 + 2**weight)
    assert score.probability == pytest.approx(expected)


def test_field_scores_explain_the_weight(scorer: FellegiSunter) -> None:
    """The waterfall: prior plus each field's weight is the match weight."""
    (score,) = scorer.score(person("JOHN", "M"), [person("JOHN", None)])
    given = score.fields[0]
    assert (given.comparison, given.gamma, given.label) == ("given_name", 2, "exact")
    assert (given.left, given.right) == ("JOHN", "JOHN")
    assert (given.m, given.u, given.bayes_factor) == (0.8, 0.05, pytest.approx(16.0))
    assert given.weight == pytest.approx(math.log2(16) - 1)
    assert score.prior_weight + sum(f.weight for f in score.fields) == pytest.approx(
        score.match_weight
    )


def test_null_level_is_no_evidence(scorer: FellegiSunter) -> None:
    (score,) = scorer.score(person("JOHN", ""), [person("JOHN", "M")])
    sex = score.fields[1]
    assert (sex.gamma, sex.label, sex.m, sex.u) == (-1, "null", None, None)
    assert (sex.bayes_factor, sex.weight, sex.tf_adjustment) == (1.0, 0.0, 0.0)


@pytest.mark.parametrize(
    ("minimum_u", "adjustment"),
    [
        (0.0, math.log2(0.05 / 0.001)),
        (0.01, math.log2(0.05 / 0.01)),  # a rare value counts no more than minimum_u allows
        (0.5, math.log2(0.05 / 0.5)),
    ],
)
def test_minimum_u_bounds_the_adjustment(minimum_u: float, adjustment: float) -> None:
    scorer = FellegiSunter(COMPARISONS, _model(minimum_u=minimum_u))
    (score,) = scorer.score(person("ZEBEDEE"), [person("ZEBEDEE")])
    assert score.fields[0].tf_adjustment == pytest.approx(adjustment)


def test_no_term_frequencies_means_no_adjustment() -> None:
    scorer = FellegiSunter(COMPARISONS, _model(values={}))
    (score,) = scorer.score(person("JOHN"), [person("JOHN")])
    assert score.fields[0].tf_adjustment == 0.0
    assert score.match_weight == pytest.approx(-2 + 4)


def test_a_zero_frequency_is_refused() -> None:
    with pytest.raises(ValueError, match="frequencies must be in"):
        FellegiSunter(COMPARISONS, _model(values={"JOHN": 0.0}))


def test_many_candidates_keep_their_order(scorer: FellegiSunter) -> None:
    candidates = [person("ANN", "F"), person("JOHN", "M"), person(None), person("ANNE", "F")]
    scores = scorer.score(person("ANN", "F"), candidates)
    assert [s.fields[0].label for s in scores] == ["exact", "else", "null", "jaro_winkler_0.9"]
    gammas, _, weights = scorer.weights(person("ANN", "F"), candidates)
    assert gammas.tolist() == [[2, 1], [0, 0], [-1, -1], [1, 1]]
    assert weights.tolist() == [s.match_weight for s in scores]
    assert scorer.score(person("ANN"), []) == []


@pytest.mark.parametrize(
    ("weight", "probability"),
    [(0.0, 0.5), (1.0, 2 / 3), (-1.0, 1 / 3), (3000.0, 1.0), (-3000.0, 0.0)],
)
def test_probability_is_stable_far_out(weight: float, probability: float) -> None:
    assert probability_from_weight(weight) == pytest.approx(probability)


def test_evidence_is_json(scorer: FellegiSunter) -> None:
    (score,) = scorer.score(person("JOHN", "M"), [person("JON", None)])
    evidence = json.loads(json.dumps(score.as_dict()))
    assert evidence["prior_weight"] == pytest.approx(-2.0)
    assert [f["comparison"] for f in evidence["fields"]] == ["given_name", "sex"]
    assert evidence["fields"][1] == {
        "comparison": "sex",
        "gamma": -1,
        "label": "null",
        "left": "M",
        "right": None,
        "m": None,
        "u": None,
        "bayes_factor": 1.0,
        "tf_adjustment": 0.0,
        "weight": 0.0,
    }
