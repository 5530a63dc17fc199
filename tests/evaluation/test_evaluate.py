"""`identity evaluate` on a hand-counted labelled set, against the tenant's member master on both
databases: the figures, the verdict of each request, and nothing written."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import MetaData, func, select
from sqlalchemy.orm import Session, sessionmaker

from identity.config import Settings
from identity.db import finish
from identity.evaluation.labels import read_labelled
from identity.evaluation.metrics import Verdict
from identity.evaluation.run import evaluate
from identity.matching.policy import find_policy
from identity.models import AuditEvent
from tests.conftest import RULES_DIR, TENANT
from tests.evaluation.conftest import LABELLED, run_cli

TODAY = date(2026, 12, 7)


def _row_counts(sessions: sessionmaker[Session]) -> dict[str, int]:
    with sessions() as session:
        meta = MetaData()
        meta.reflect(bind=session.get_bind())
        return {
            name: session.scalar(select(func.count()).select_from(table)) or 0
            for name, table in meta.tables.items()
        }


@pytest.mark.usefixtures("master")
def test_each_request_gets_its_hand_counted_verdict(
    sessions: sessionmaker[Session], labelled_files: tuple[Path, Path]
) -> None:
    queries = read_labelled(*labelled_files, TODAY)
    session = sessions()
    try:
        result = evaluate(session, TENANT, find_policy(RULES_DIR, "default"), queries, today=TODAY)
    finally:
        finish(session, commit=False)
    got = {r.request_id: r.verdict for r in result.results}
    assert got == {body["id"]: Verdict(expected) for body, _, expected in LABELLED}
    m = result.metrics
    assert m.requests == 6
    assert m.enrolled == 4
    assert m.precision == pytest.approx(2 / 3)  # q1, q2 right; q5 false
    assert m.recall == pytest.approx(3 / 4)  # q1, q2, and q3's duplicate review, of 4 enrolled
    assert m.review_rate == pytest.approx(1 / 6)
    assert m.false_matches_by_tag == {"household": 1, "namesake": 1}
    # Blocking: q6 finds no one, so 3 of the 4 enrolled reach scoring.
    assert result.blocking_recall == pytest.approx(3 / 4)
    q3 = next(r for r in result.results if r.request_id == "q3")
    assert q3.resolution is not None
    assert q3.resolution.decision.reason.value == "ambiguous"
    assert {c.member_id for c in q3.candidates} >= {"M4", "M5"}


@pytest.mark.usefixtures("master")
def test_the_command_prints_the_figures_audits_the_run_and_writes_nothing_else(
    settings: Settings,
    sessions: sessionmaker[Session],
    active_policy: str,
    labelled_files: tuple[Path, Path],
) -> None:
    before = _row_counts(sessions)
    requests, truth = labelled_files
    done = run_cli(
        settings,
        "evaluate",
        "--tenant",
        TENANT,
        "--requests",
        str(requests),
        "--truth",
        str(truth),
        "--no-progress",
    )
    assert done.returncode == 0, done.stderr
    assert f"under {active_policy}" in done.stdout
    assert "precision          0.6667 (2 right of 3 matches)" in done.stdout
    assert "recall             0.7500" in done.stdout
    assert "review rate        0.1667 (1 reviews, 1 of a duplicate enrolment)" in done.stdout
    assert "    namesake                 1" in done.stdout
    after = _row_counts(sessions)
    assert before["match_decision"] == 0
    assert before["audit_event"] == 0
    assert after == {**before, "audit_event": 1, "audit_chain_head": 1}  # the tenant's chain began
    # It read the tenant's members: the trail says who, when and under which policy, naming
    # no member.
    with sessions() as session:
        [event] = session.scalars(select(AuditEvent))
    assert (event.action, event.outcome) == ("evaluation.run", "success")
    assert event.object_type == "member"
    assert event.policy_version == active_policy
    assert event.tenant_id == TENANT
    assert event.person is not None
    assert event.person.startswith("cli")
    assert not event.object_ids


@pytest.mark.usefixtures("master")
def test_a_bad_line_is_named_and_nothing_is_evaluated(
    settings: Settings,
    sessions: sessionmaker[Session],
    active_policy: str,
    labelled_files: tuple[Path, Path],
) -> None:
    requests, truth = labelled_files
    lines = requests.read_text().splitlines()
    lines[2] = lines[2].replace('"birthDate": "1990-01-15"', '"birthDate": "1990-13-45"')
    lines.insert(4, "{not json")
    requests.write_text("\n".join(lines) + "\n")
    truth.write_text(truth.read_text() + "q9,M3\n")
    done = run_cli(
        settings, "evaluate", "--requests", str(requests), "--truth", str(truth), "--no-progress"
    )
    assert done.returncode == 2
    assert "requests.ndjson:3: not a valid /v1/match body (/patient/birthDate" in done.stderr
    assert "requests.ndjson:5: not a JSON object" in done.stderr
    assert "nothing was evaluated" in done.stderr
    assert "1990-13-45" not in done.stderr  # the files' values are never echoed
    assert "precision" not in done.stdout
    assert _row_counts(sessions)["audit_event"] == 0  # nothing read, nothing audited


@pytest.mark.usefixtures("master")
def test_any_policy_file_can_be_evaluated(
    settings: Settings, active_policy: str, labelled_files: tuple[Path, Path], tmp_path: Path
) -> None:
    """A policy file outside matching_rules/, never activated: stricter thresholds send q1
    (matched by its weights alone) to review; the rules' matches stay."""
    strict = tmp_path / "strict.yaml"
    text = (RULES_DIR / "default.yaml").read_text()
    label = find_policy(RULES_DIR, "default").label
    strict.write_text(
        text.replace(f'label: "{label}"', 'label: "strict-1"').replace(
            "match_probability: 0.97", "match_probability: 0.9999999999"
        )
    )
    requests, truth = labelled_files
    done = run_cli(
        settings,
        *("evaluate", "--requests", str(requests), "--truth", str(truth)),
        *("--policy", str(strict), "--no-progress"),
    )
    assert done.returncode == 0, done.stderr
    assert "under strict-1+" in done.stdout
    assert "precision          0.5000 (1 right of 2 matches)" in done.stdout
    assert "review rate        0.3333 (2 reviews, 1 of a duplicate enrolment)" in done.stdout
