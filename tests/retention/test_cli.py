"""`identity purge` run as an operator runs it (a subprocess), on both databases."""

from __future__ import annotations

import os
import subprocess
import sys

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from identity.config import Settings
from identity.models import MatchDecision
from tests.conftest import RULES_DIR, TENANT
from tests.retention.conftest import Decisions


def _identity(settings: Settings, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "identity", *args],
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "IDENTITY_DATABASE_URL": settings.database_url,
            "IDENTITY_RULES_DIR": str(RULES_DIR),
            "IDENTITY_DEFAULT_TENANT": TENANT,
            **env,
        },
        timeout=120,
    )


def _purged(sessions: sessionmaker[Session]) -> set[str]:
    with sessions() as session:
        return set(
            session.scalars(select(MatchDecision.id).where(MatchDecision.purged_at.is_not(None)))
        )


def test_purge_dry_run_then_purge_then_replay(
    settings: Settings, sessions: sessionmaker[Session], decisions: Decisions, active_policy: str
) -> None:
    dry = _identity(settings, "purge", "--tenant", TENANT, "--older-than", "365", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "(dry run: nothing changed)" in dry.stdout
    assert f"tenant {TENANT}: 2 decision(s) due, 1 review note(s)" in dry.stdout
    assert (
        "1 stale guard attempt(s), 0 webhook deliveries, 0 steward sessions, 0 sign-in links; "
        "1 decision(s) kept while their review is open; 0 member change log row(s) due"
    ) in dry.stdout
    assert _purged(sessions) == set()

    # The period comes from IDENTITY_RETENTION_DAYS when --older-than is not given.
    done = _identity(settings, "purge", IDENTITY_RETENTION_DAYS="300")
    assert done.returncode == 0, done.stderr
    assert f"tenant {TENANT}: 2 decision(s) purged" in done.stdout
    assert _purged(sessions) == {decisions.old_match, decisions.old_settled_review}

    replayed = _identity(
        settings, "replay", decisions.old_match, "--policy", active_policy, "--tenant", TENANT
    )
    assert replayed.returncode == 1
    assert "cannot be replayed: its demographics were purged" in replayed.stderr
    assert "Traceback" not in replayed.stderr

    verified = _identity(settings, "audit", "verify")
    assert verified.returncode == 0, verified.stderr
    assert "audit chain intact" in verified.stdout


def test_purge_refuses_a_period_under_a_day(settings: Settings, active_policy: str) -> None:
    refused = _identity(settings, "purge", "--older-than", "0")
    assert refused.returncode == 2
    assert "--older-than" in refused.stderr
