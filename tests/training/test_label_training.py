"""`identity train --labels reviewed`: m estimated from the pairs stewards linked (splink's
label-based estimation), u sampled, the prior kept; refused with too few labels.

Stewards settle the review items of a synthetic payer's requests by the generator's truth (a
link to the person, or a new person), under a policy that sends every weighed decision to review
so that there are many to settle."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from identity.audit.actor import Actor
from identity.config import Settings
from identity.db import transaction
from identity.evaluation import datasets
from identity.evaluation.reviewed_labels import reviewed_labels
from identity.matching.policy import parse_policy
from identity.matching.scoring import FellegiSunter
from identity.policy import service as policy_service
from identity.policy.cache import MatcherCache
from identity.resolution import service
from identity.review import service as review
from identity.training.errors import TrainingRefused
from identity.training.labels import labelled_pairs, train_on_labels
from identity.training.train import TrainOptions
from tests.conftest import RULES_DIR, TENANT

TODAY = date(2026, 12, 7)
SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
DEFAULT_TEXT = (RULES_DIR / "default.yaml").read_text()
# Every weighed decision is a review: the stewards' queue is the labelled set.
REVIEW_ALL = parse_policy(
    DEFAULT_TEXT.replace('label: "1.5.0"', 'label: "review-all"')
    .replace("match_probability: 0.97", "match_probability: 0.9999999999")
    .replace("review_probability: 0.60", "review_probability: 0.000001"),
    source="review-all",
)
SOURCE = parse_policy(DEFAULT_TEXT, source="default")


@pytest.fixture
def settled(sessions: sessionmaker[Session], tmp_path: Path) -> int:
    """A synthetic master, its requests decided under REVIEW_ALL, every review settled by the
    truth; returns the number of links."""
    data = datasets.synthetic(tmp_path / "synth", members=400, queries=450, seed=11, today=TODAY)
    with transaction(sessions) as session:
        data.load_master(session, TENANT)
        policy_service.activate(session, TENANT, REVIEW_ALL)
    matchers = MatcherCache()
    steward = Actor(tenant=TENANT, client_id=None, request_id=None, person="ana")
    links = 0
    for query in data.queries:
        if query.raw is None:
            continue
        with transaction(sessions) as session:
            result = service.match(session, TENANT, matchers, query.raw, today=TODAY)
            if result.review_item_id is None:
                continue
            found = [c["member_id"] for c in result.decision.candidates]
            person = next((m for m in found if m in query.truth), None)
            kind = "link" if person else "new_person"
            links += person is not None
            review.decide(
                session,
                steward,
                result.review_item_id,
                review.StewardDecision(kind, person),
                role=review.Role.STEWARD,
                now=datetime.now(UTC),
            )
    return links


@SQLITE
def test_m_is_the_share_of_linked_pairs_at_each_level(
    sessions: sessionmaker[Session], settled: int, tmp_path: Path
) -> None:
    assert settled >= 25  # the premise: a queue worth learning from
    rules = tmp_path / "rules"
    rules.mkdir()
    with transaction(sessions) as session:
        labels = reviewed_labels(session, TENANT)
        run = train_on_labels(
            session,
            TENANT,
            SOURCE,
            rules_dir=rules,
            label="from-stewards",
            options=TrainOptions(max_pairs=50_000),
            min_matches=20,
        )
    assert run.problems == [], run.problems
    assert run.written is not None
    assert run.path is not None
    assert run.path.exists()
    model = run.written.document.model
    assert model is not None
    assert model.prior == SOURCE.document.model.prior  # kept: reviews are not a sample of traffic
    assert model.training is not None
    assert "pairwise_labels" in model.training["m"]["method"]
    assert model.training["counts"]["labelled_matches"] == settled

    # What the labels say, counted with the service's own comparisons: the share of the linked
    # pairs at each level (missing values are no evidence, as in splink).
    records, pairs = labelled_pairs(labels)
    by_id = dict(records)
    scorer = FellegiSunter(SOURCE.document.comparisons, SOURCE.document.model)
    seen: dict[str, Counter[str]] = {c.name: Counter() for c in SOURCE.document.comparisons}
    for left, right in pairs:
        [score] = scorer.score(by_id[left], [by_id[right]])
        for field in score.fields:
            if field.label != "null":
                seen[field.comparison][field.label] += 1
    checked = 0
    for lv in run.estimates.levels:
        if lv.clipped or not lv.m_trained:
            continue
        total = sum(seen[lv.comparison].values())
        assert lv.m == pytest.approx(seen[lv.comparison][lv.level] / total, rel=1e-9), lv.key
        checked += 1
    assert checked >= 10
    changed = [
        lv.key
        for lv in run.estimates.levels
        if lv.m != SOURCE.document.model.parameters[lv.comparison][lv.level].m
    ]
    assert changed  # the labels moved m away from the hand-set values


@SQLITE
def test_too_few_labels_are_refused(
    settings: Settings, sessions: sessionmaker[Session], settled: int, tmp_path: Path
) -> None:
    with transaction(sessions) as session, pytest.raises(TrainingRefused, match="too few labels"):
        train_on_labels(session, TENANT, SOURCE, rules_dir=tmp_path, min_matches=settled + 1)
    env = {
        **os.environ,
        "IDENTITY_DATABASE_URL": settings.database_url,
        "IDENTITY_RULES_DIR": str(RULES_DIR),
    }
    done = subprocess.run(
        [sys.executable, "-m", "identity", "train", "--tenant", "another-payer", "--policy",
         "default", "--labels", "reviewed"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )  # fmt: skip
    assert done.returncode == 1
    assert "too few labels" in done.stderr
    assert list(RULES_DIR.glob("default-trained*")) == []
