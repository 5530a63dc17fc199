"""Stewards' settlements as labels: which settlements label which candidates, and a policy
measured on them by re-deciding the stored requests (both databases)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from identity.config import Settings
from identity.db import transaction
from identity.evaluation.metrics import Verdict
from identity.evaluation.reviewed_labels import _label, evaluate_reviewed, reviewed_labels
from identity.matching.policy import find_policy
from identity.models import AuditEvent
from tests.conftest import RULES_DIR, TENANT
from tests.evaluation.shadow_fixtures import LOOSE, STRICT, Stored, settled, stored

__all__ = ["settled", "stored"]

IDS = {"A", "B", "C"}


@pytest.mark.parametrize(
    ("kind", "member", "other", "same", "apart"),
    [
        ("link", "A", None, {"A"}, {"B", "C"}),
        ("same_person", "A", "B", {"A", "B"}, {"C"}),
        ("new_person", None, None, set(), IDS),
        ("keep_apart", None, None, set(), IDS),
        ("keep_apart", "B", None, set(), {"B"}),  # says nothing of A and C
    ],
)
def test_what_a_settlement_labels(
    kind: str, member: str | None, other: str | None, same: set[str], apart: set[str]
) -> None:
    assert _label(kind, member, other, IDS) == (same, apart)


@pytest.mark.parametrize(
    ("kind", "member", "other"),
    [
        ("escalate", None, None),
        ("not_same_person", "A", "B"),
        ("link", "Z", None),  # not a candidate of the request
        ("same_person", "A", "Z"),  # a pair about someone else
    ],
)
def test_settlements_that_label_nothing(kind: str, member: str | None, other: str | None) -> None:
    assert _label(kind, member, other, IDS) is None


def test_settled_items_become_labelled_requests(
    sessions: sessionmaker[Session], settled: dict[str, Stored]
) -> None:
    with transaction(sessions) as session:
        labels = {label.match_id: label for label in reviewed_labels(session, TENANT)}
        assert reviewed_labels(session, "another-payer") == []
    assert set(labels) == {settled["trish"].match_id, settled["mara2"].match_id}
    trish, maria = labels[settled["trish"].match_id], labels[settled["mara2"].match_id]
    assert (trish.kind, trish.same, trish.apart) == ("new_person", frozenset(), {"M4"})
    assert (maria.kind, maria.same) == ("link", {"M1"})
    assert maria.pairs()[0] == ("M1", True)
    assert str(maria.query.birth_date) == "1985-03-12"  # the stored request, as the steward saw it
    assert trish.complete
    assert maria.complete


def test_a_policy_measured_on_the_labels(
    sessions: sessionmaker[Session], settled: dict[str, Stored]
) -> None:
    with transaction(sessions) as session:
        labels = reviewed_labels(session, TENANT)
    default = evaluate_reviewed(find_policy(RULES_DIR, "default"), labels, tenant=TENANT)
    # Both were reviews under the policy that asked (the steward's own decision is not used:
    # it would answer from the label itself).
    m = default.metrics
    assert (m.requests, m.enrolled, m.reviews, m.matches, m.recall) == (2, 1, 2, 0, 0.0)
    loose = evaluate_reviewed(LOOSE, labels, tenant=TENANT).metrics
    assert (loose.counts[Verdict.TRUE_MATCH], loose.counts[Verdict.FALSE_MATCH]) == (1, 1)
    assert (loose.precision, loose.recall) == (0.5, 1.0)
    assert loose.false_matches_by_tag == {"steward:new_person": 1}
    wrong = [
        r
        for r in evaluate_reviewed(LOOSE, labels, tenant=TENANT).results
        if r.verdict == Verdict.FALSE_MATCH
    ]
    assert [r.request_id for r in wrong] == [settled["trish"].match_id]
    strict = evaluate_reviewed(STRICT, labels, tenant=TENANT).metrics
    assert (strict.reviews, strict.counts[Verdict.FALSE_MATCH], strict.precision) == (2, 0, 1.0)


def test_identity_evaluate_on_the_reviewed_labels(
    settings: Settings,
    sessions: sessionmaker[Session],
    settled: dict[str, Stored],
    tmp_path: Path,
) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "loose.yaml").write_text(LOOSE.source_text)
    env = {
        **os.environ,
        "IDENTITY_DATABASE_URL": settings.database_url,
        "IDENTITY_RULES_DIR": str(rules),
    }
    report = tmp_path / "report.html"
    done = subprocess.run(
        [sys.executable, "-m", "identity", "evaluate", "--tenant", TENANT, "--labels",
         "reviewed", "--policy", "loose", "--report", str(report), "--no-progress"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "precision          0.5000 (1 right of 2 matches)" in done.stdout
    assert "steward:new_person       1" in done.stdout
    html = report.read_text()
    assert "False matches (1)" in html
    assert settled["trish"].match_id in html
    # It read the settled review items (their evidence): one event says who, and under which
    # policy.
    with sessions() as session:
        [event] = session.scalars(select(AuditEvent).where(AuditEvent.action == "evaluation.run"))
    assert (event.outcome, event.object_type) == ("success", "review_item")
    assert event.policy_version == LOOSE.version
