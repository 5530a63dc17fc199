"""Evaluation reads stewards' remembered decisions as the live path does: once a steward marked
Ana's two records one person, her request is answered with the surviving record, and the sweep
(which re-decides such ties in full at each point) still equals the real decision."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from identity.audit.actor import Actor
from identity.db import finish, transaction
from identity.evaluation.labels import read_labelled
from identity.evaluation.metrics import VERDICTS, Verdict, verdict_of
from identity.evaluation.run import evaluate
from identity.evaluation.sweep import Grid, sweep, with_decision
from identity.matching.engine import Matcher
from identity.matching.policy import find_policy
from identity.policy.cache import MatcherCache
from identity.resolution import service as resolution
from identity.review import service as review
from tests.conftest import RULES_DIR, TENANT
from tests.evaluation.conftest import LABELLED

TODAY = date(2026, 12, 7)
NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


@pytest.mark.usefixtures("master", "active_policy")
def test_a_same_person_mark_answers_the_duplicate_in_evaluation(
    sessions: sessionmaker[Session], labelled_files: tuple[Path, Path]
) -> None:
    ana = next(body for body, _, _ in LABELLED if body["id"] == "q3")
    raw = resolution.parse_match_request({k: v for k, v in ana.items() if k != "id"}, TODAY)
    with transaction(sessions) as session:
        asked = resolution.match(session, TENANT, MatcherCache(), raw, today=TODAY)
        assert asked.review_item_id is not None
    with transaction(sessions) as session:
        review.decide(
            session,
            Actor(tenant=TENANT, client_id=None, request_id=None, person="sam"),
            asked.review_item_id,
            review.StewardDecision("same_person", "M4", "M5"),
            role=review.Role.STEWARD,
            now=NOW,
        )

    policy = find_policy(RULES_DIR, "default")
    session = sessions()
    try:
        result = evaluate(
            session, TENANT, policy, read_labelled(*labelled_files, TODAY), today=TODAY
        )
    finally:
        finish(session, commit=False)
    q3 = next(r for r in result.results if r.request_id == "q3")
    assert q3.resolution is not None
    assert q3.resolution.decision.reason.value == "same-person"
    assert q3.verdict is Verdict.TRUE_MATCH

    grid = Grid.product([0.5, 0.97, 0.9999999999], [0.1, 0.6, 0.97], [0.0, 0.1, 0.6])
    swept = sweep(result, grid)
    assert swept._reduced is not None
    assert len(swept._reduced.exact) == 1  # q3, re-decided in full at each point
    for point in range(len(grid)):
        matcher = Matcher(with_decision(policy, grid.spec(point, policy.document.decision)))
        redecided = Counter(
            verdict_of(matcher.resolve(r.query, r.candidates, r.learned), r.truth)
            for r in result.decided
            if r.query is not None
        )
        assert swept.counts[point].tolist() == [redecided[v] for v in VERDICTS], point
    # The mark settles the tie only where the thresholds call it one (a match-level tie).
    q3_at = {int(p): swept.verdicts_at(int(p))[result.decided.index(q3)] for p in range(len(grid))}
    assert len(set(q3_at.values())) > 1
