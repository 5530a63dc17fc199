"""No policy goes live blind: `identity policy activate` of another policy shows its shadow run
and its precision on the stewards' labels beside the active one's, refuses a drop (nothing
activated) unless the risk is accepted with a reason, which is audited (both databases)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from identity.config import Settings
from identity.db import transaction
from identity.models import AuditEvent, PolicyVersion
from identity.policy import service as policy_service
from tests.conftest import RULES_DIR, TENANT
from tests.evaluation.shadow_fixtures import LOOSE, REQUESTS, STRICT, Stored, settled, stored

__all__ = ["settled", "stored"]


def _activate(settings: Settings, rules: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "IDENTITY_DATABASE_URL": settings.database_url,
        "IDENTITY_RULES_DIR": str(rules),
    }
    return subprocess.run(
        [sys.executable, "-m", "identity", "policy", "activate", "--tenant", TENANT, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def _state(sessions: sessionmaker[Session]) -> tuple[str | None, int, list[AuditEvent]]:
    with transaction(sessions) as session:
        active = policy_service.active_policy_version(session, TENANT)
        versions = int(session.scalar(select(func.count()).select_from(PolicyVersion)) or 0)
        risks = list(
            session.scalars(select(AuditEvent).where(AuditEvent.action == "policy.accept-risk"))
        )
    return active, versions, risks


def test_a_drop_in_precision_is_refused_unless_the_risk_is_accepted(
    settings: Settings,
    sessions: sessionmaker[Session],
    settled: dict[str, Stored],
    active_policy: str,
    tmp_path: Path,
) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "default.yaml").write_text((RULES_DIR / "default.yaml").read_text())
    (rules / "loose.yaml").write_text(LOOSE.source_text)
    (rules / "strict.yaml").write_text(STRICT.source_text)
    before = _state(sessions)

    # Loose matches Trish Pearson to Patricia Person, whom a steward kept apart: 1.0 -> 0.5.
    refused = _activate(settings, rules, "loose")
    assert refused.returncode == 1, refused.stderr
    assert "precision on the labels drops: not activated" in refused.stderr
    # The shadow run was shown: what stewards settled is answered from their decisions under
    # any policy, so nothing flips; the labels, re-decided without them, tell the policies apart.
    assert "5 stored decision(s) re-decided, 0 flip(s)" in refused.stderr
    assert "on 2 labelled request(s) (reviewed)" in refused.stderr
    assert "0.5000" in refused.stderr
    assert _state(sessions) == before  # nothing activated, nothing stored, nothing audited

    # Strict only sends more to review: precision does not drop, so it goes live.
    strict = _activate(settings, rules, "strict")
    assert strict.returncode == 0, strict.stderr
    assert "match → review" in strict.stderr
    assert f"{STRICT.version} activated" in strict.stdout
    assert _state(sessions)[0] == STRICT.version

    blank = _activate(settings, rules, "loose", "--accept-risk", "   ")
    assert blank.returncode == 2
    accepted = _activate(
        settings, rules, "loose", "--accept-risk", "pilot: a lead checks every match daily"
    )
    assert accepted.returncode == 0, accepted.stderr
    active, _, risks = _state(sessions)
    assert active == LOOSE.version
    [event] = risks
    assert event.object_ids == [
        LOOSE.version,
        STRICT.version,
        "precision(reviewed):1.0000->0.5000",  # strict matched none: nothing wrong
        "reason:pilot: a lead checks every match daily",
    ]
    assert event.person is not None
    assert event.person.startswith("cli")

    # Going back to a policy whose precision does not drop needs no reason.
    back = _activate(settings, rules, "default")
    assert back.returncode == 0, back.stderr
    assert _state(sessions)[0] == active_policy


def test_the_first_activation_and_a_tenant_without_labels(
    settings: Settings, sessions: sessionmaker[Session], stored: dict[str, Stored], tmp_path: Path
) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "loose.yaml").write_text(LOOSE.source_text)
    done = _activate(settings, rules, "loose")
    assert done.returncode == 0, done.stderr
    assert "no labels (stewards' settlements, --requests/--truth)" in done.stderr
    assert "review → match" in done.stderr


def test_a_labelled_set_given_at_activation(
    settings: Settings, sessions: sessionmaker[Session], stored: dict[str, Stored], tmp_path: Path
) -> None:
    """No steward has settled anything; the operator's labelled set shows the drop."""
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "loose.yaml").write_text(LOOSE.source_text)
    requests = tmp_path / "requests.ndjson"
    requests.write_text(
        "".join(json.dumps({"id": name, **REQUESTS[name]}) + "\n" for name in ("trish", "mara2"))
    )
    truth = tmp_path / "truth.csv"
    truth.write_text("request_id,member_ids,tags\ntrish,,stranger\nmara2,M1,self\n")
    before = _state(sessions)
    refused = _activate(
        settings, rules, "loose", "--requests", str(requests), "--truth", str(truth)
    )
    assert refused.returncode == 1, refused.stderr
    assert "on 2 labelled request(s) (requests.ndjson)" in refused.stderr
    assert "precision on the labels drops" in refused.stderr
    assert _state(sessions) == before
    half = _activate(settings, rules, "loose", "--requests", str(requests))
    assert half.returncode == 2
    truth.write_text("request_id,member_ids\nnobody,M1\n")
    bad = _activate(settings, rules, "loose", "--requests", str(requests), "--truth", str(truth))
    assert bad.returncode == 2
    assert _state(sessions) == before
