"""`identity shadow`: stored decisions re-decided under a candidate policy, nothing written, the
flips counted by kind and reason with a link to each decision (both databases)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from identity.config import Settings
from identity.db import transaction
from identity.evaluation import shadow as shadow_module
from identity.evaluation.shadow import shadow
from identity.matching.policy import find_policy
from identity.models import AuditEvent, MatchDecision, PolicyVersion, ReviewItem
from tests.conftest import RULES_DIR, TENANT
from tests.evaluation.shadow_fixtures import LOOSE, STRICT, Stored, stored

__all__ = ["stored"]  # the fixture, imported to be found

DEFAULT = find_policy(RULES_DIR, "default")


def _counts(sessions: sessionmaker[Session]) -> tuple[int, ...]:
    with sessions() as session:
        return tuple(
            int(session.scalar(select(func.count()).select_from(t)) or 0)
            for t in (MatchDecision, ReviewItem, AuditEvent, PolicyVersion)
        )


def test_a_stricter_policy_turns_the_probabilistic_matches_into_reviews(
    sessions: sessionmaker[Session], stored: dict[str, Stored]
) -> None:
    before = _counts(sessions)
    with transaction(sessions) as session:
        report = shadow(session, TENANT, DEFAULT, STRICT)
    assert _counts(sessions) == before  # nothing written
    assert report.decisions == 5
    assert (report.baseline_version, report.candidate_version) == (DEFAULT.version, STRICT.version)
    flipped = {f.match_id: f for f in report.flips}
    # The rule-certain match stands; the two matches the weights made become reviews.
    assert set(flipped) == {stored["mara"].match_id, stored["pat"].match_id}
    assert report.by_kind() == [("match → review", "review-band", 2)]
    mara = flipped[stored["mara"].match_id]
    assert (mara.before.member_id, mara.after.member_id) == ("M1", None)
    assert mara.link("https://id.example") == f"https://id.example/v1/matches/{mara.match_id}"
    assert report.outcomes_before == {"match": 3, "review": 2}
    assert report.outcomes_after == {"match": 1, "review": 4}


def test_a_looser_policy_matches_the_reviews_with_links_to_their_items(
    sessions: sessionmaker[Session], stored: dict[str, Stored]
) -> None:
    with transaction(sessions) as session:
        report = shadow(session, TENANT, DEFAULT, LOOSE)
    flipped = {f.match_id: f for f in report.flips}
    assert set(flipped) == {stored["trish"].match_id, stored["mara2"].match_id}
    assert report.by_kind() == [("review → match", "match-threshold", 2)]
    trish = flipped[stored["trish"].match_id]
    assert trish.after.member_id == "M4"
    assert trish.link() == f"/review/items/{stored['trish'].review_item_id}"


def test_since_and_the_same_policy(
    sessions: sessionmaker[Session], stored: dict[str, Stored]
) -> None:
    with transaction(sessions) as session:
        same = shadow(session, TENANT, DEFAULT, DEFAULT)
        later = shadow(
            session, TENANT, DEFAULT, STRICT, since=datetime.now(UTC) + timedelta(days=1)
        )
        other_tenant = shadow(session, "another-payer", DEFAULT, STRICT)
    assert (same.decisions, same.flips) == (5, [])  # replays decide as recorded
    assert later.decisions == 0
    assert other_tenant.decisions == 0


def test_the_command(
    settings: Settings, sessions: sessionmaker[Session], stored: dict[str, Stored], tmp_path
) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "default.yaml").write_text((RULES_DIR / "default.yaml").read_text())
    (rules / "strict.yaml").write_text(STRICT.source_text)
    env = {
        **os.environ,
        "IDENTITY_DATABASE_URL": settings.database_url,
        "IDENTITY_RULES_DIR": str(rules),
        "IDENTITY_PUBLIC_URL": "https://id.example",
    }
    before = _counts(sessions)
    report = tmp_path / "shadow.html"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "identity",
            "shadow",
            "--policy",
            "strict",
            "--tenant",
            TENANT,
            "--report",
            str(report),
        ],  # fmt: skip
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "5 stored decision(s) re-decided, 2 flip(s)" in done.stdout
    assert "match → review" in done.stdout
    assert "review-band" in done.stdout
    assert f"https://id.example/v1/matches/{stored['mara'].match_id}" in done.stdout
    decisions, items, events, policies = before
    # Nothing written but the run's audit event: it read the stored requests and their evidence.
    assert _counts(sessions) == (decisions, items, events + 1, policies)
    with sessions() as session:
        event = session.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc())).first()
    assert event is not None
    assert (event.action, event.object_type) == ("shadow.run", "match_decision")
    assert event.policy_version == STRICT.version
    assert not event.object_ids
    html = report.read_text()
    assert "2 flip(s)" in html
    assert f'href="https://id.example/v1/matches/{stored["mara"].match_id}"' in html
    bad = subprocess.run(
        [sys.executable, "-m", "identity", "shadow", "--policy", "strict", "--since", "soon"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert bad.returncode == 2
    assert "not a date" in bad.stderr
    assert _counts(sessions)[2] == events + 1  # refused before reading: not audited


def test_pages_and_the_limit(
    sessions: sessionmaker[Session], stored: dict[str, Stored], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Read a page at a time (here two decisions), a run sees each decision once; `limit`
    keeps the newest."""
    with transaction(sessions) as session:
        whole = shadow(session, TENANT, DEFAULT, STRICT)
        monkeypatch.setattr(shadow_module, "PAGE", 2)
        paged = shadow(session, TENANT, DEFAULT, STRICT)
        newest = shadow(session, TENANT, DEFAULT, STRICT, limit=3)
    assert paged.decisions == whole.decisions == 5
    assert [f.match_id for f in paged.flips] == [f.match_id for f in whole.flips]
    assert newest.decisions == 3
    # The requests were stored in order: the three newest are pat, jordan and mara2.
    assert [f.match_id for f in newest.flips] == [stored["pat"].match_id]
