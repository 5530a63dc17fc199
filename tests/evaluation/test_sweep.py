"""The sweep equals re-running the real decision: at sampled grid points, every request decided
again by a `Matcher` whose policy holds that point's thresholds gives the sweep's counts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from identity.config import Settings
from identity.evaluation import datasets
from identity.evaluation.metrics import VERDICTS, Verdict, verdict_of
from identity.evaluation.run import Evaluation, evaluate
from identity.evaluation.sweep import Grid, sweep, with_decision
from identity.matching.engine import Matcher
from identity.matching.policy import find_policy
from tests.conftest import RULES_DIR

TODAY = date(2026, 12, 7)
TENANT = "sweep"


@pytest.fixture(scope="module")
def evaluation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Evaluation]:
    """The default policy on a small synthetic payer (households, twins, duplicate enrolments)."""
    folder = Path(tmp_path_factory.mktemp("synthetic"))
    data = datasets.synthetic(folder, members=1500, queries=500, seed=11, today=TODAY)
    settings = Settings(database_url="sqlite://", rules_dir=RULES_DIR)
    policy = find_policy(RULES_DIR, "default")
    with datasets.loaded(data, settings, TENANT) as (session, _):
        yield evaluate(session, TENANT, policy, data.queries, today=TODAY, dataset=data.name)


def _redecided(evaluation: Evaluation, grid: Grid, point: int) -> list[int]:
    spec = grid.spec(point, evaluation.policy.document.decision)
    matcher = Matcher(with_decision(evaluation.policy, spec))
    verdicts = Counter(
        verdict_of(matcher.resolve(r.query, r.candidates, r.learned), r.truth)
        for r in evaluation.decided
        if r.query is not None
    )
    return [verdicts[v] for v in VERDICTS]


def test_the_sweep_equals_the_real_decision_at_sampled_points(evaluation: Evaluation) -> None:
    swept = sweep(evaluation)
    grid = swept.grid
    assert len(grid) >= 900
    rng = np.random.default_rng(3)
    points = [int(p) for p in rng.choice(len(grid), size=12, replace=False)]
    assert swept.current is not None
    for point in [swept.current, *points]:
        assert swept.counts[point].tolist() == _redecided(evaluation, grid, point), point


def test_the_policy_s_own_point_is_its_evaluation(evaluation: Evaluation) -> None:
    swept = sweep(evaluation)
    assert swept.current is not None
    counts = evaluation.metrics.counts
    assert swept.counts[swept.current].tolist() == [counts[v] for v in VERDICTS]
    assert swept.precision[swept.current] == pytest.approx(evaluation.metrics.precision)
    assert swept.recall[swept.current] == pytest.approx(evaluation.metrics.recall)
    assert swept.review_rate[swept.current] == pytest.approx(evaluation.metrics.review_rate)


def test_the_thresholds_matter_on_this_set(evaluation: Evaluation) -> None:
    """Not a vacuous parity: the grid moves requests between match, review and no match, and
    some duplicate enrolments are reviewed (counted right)."""
    swept = sweep(evaluation)
    for verdict in (Verdict.TRUE_MATCH, Verdict.REVIEW, Verdict.MISSED):
        assert len(set(swept.count(verdict).tolist())) > 3, verdict
    assert swept.count(Verdict.DUPLICATE_REVIEW).max() > 0
    # A looser review threshold never sends fewer requests to review at the same match
    # threshold and margin (the band only widens).
    g = swept.grid
    rate = swept.review_rate
    for point in range(len(g)):
        looser = (
            (g.match_probability == g.match_probability[point])
            & (g.margin == g.margin[point])
            & (g.review_probability < g.review_probability[point])
        )
        assert (rate[looser] >= rate[point] - 1e-12).all()
