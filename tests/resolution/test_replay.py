"""Replaying a stored decision under another policy version: same query and candidates, the
policy alone makes the difference."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date

import pytest
from sqlalchemy.orm import Session, sessionmaker

from identity.config import Settings
from identity.db import transaction
from identity.matching.policy import parse_policy
from identity.policy import service as policy_service
from identity.policy.cache import MatcherCache
from identity.resolution import service
from identity.resolution.replay import replay
from tests.conftest import RULES_DIR, TENANT
from tests.factories import fhir_patient

STRICT = (
    (RULES_DIR / "default.yaml")
    .read_text()
    .replace('label: "1.5.0"', 'label: "strict-1"')
    .replace("match_probability: 0.97", "match_probability: 0.9999999")
)


@pytest.mark.usefixtures("household")
def test_replay_under_a_stricter_policy(
    settings: Settings,
    sessions: sessionmaker[Session],
    active_policy: str,
) -> None:
    today = date(2026, 11, 22)
    body = {
        "patient": fhir_patient("Mara", "Garcia", "1985-03-12", gender="female", phone="6175552368")
    }
    with transaction(sessions) as session:
        result = service.match(
            session, TENANT, MatcherCache(), service.parse_match_request(body, today), today=today
        )
        match_id = result.decision.id
        assert result.decision.outcome == "match"
    strict = parse_policy(STRICT)
    with transaction(sessions) as session:
        policy_service.activate(session, "another-tenant", strict)  # stored, not ours

    with transaction(sessions) as session:
        same = replay(session, TENANT, match_id, active_policy)
        stricter = replay(session, TENANT, match_id, strict.version)
    assert same.replayed.decision.outcome.value == "match"
    assert same.replayed.member is not None
    assert same.replayed.member.member_id == "M1"
    assert (stricter.recorded_outcome, stricter.replayed.decision.outcome.value) == (
        "match",
        "review",
    )
    assert stricter.replayed.decision.reason.value == "review-band"

    env = {
        **os.environ,
        "IDENTITY_DATABASE_URL": settings.database_url,
        "IDENTITY_RULES_DIR": str(RULES_DIR),
    }
    cli = subprocess.run(
        [
            sys.executable,
            "-m",
            "identity",
            "replay",
            match_id,
            "--policy",
            strict.version,
            "--tenant",
            TENANT,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert cli.returncode == 0, cli.stderr
    assert "recorded" in cli.stdout
    assert "review-band" in cli.stdout
    unknown = subprocess.run(
        [sys.executable, "-m", "identity", "replay", "nope", "--policy", strict.version],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert unknown.returncode == 1
