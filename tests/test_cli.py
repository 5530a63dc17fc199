"""The `identity` command, run as a user runs it (a subprocess), on both databases."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from identity.config import Settings
from identity.matching.policy import find_policy
from tests.conftest import RULES_DIR
from tests.factories import fhir_patient


def run(
    settings: Settings, *args: str, rules_dir: Path = RULES_DIR
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "IDENTITY_DATABASE_URL": settings.database_url,
        "IDENTITY_RULES_DIR": str(rules_dir),
        "IDENTITY_DEFAULT_TENANT": "cli-payer",
    }
    return subprocess.run(
        [sys.executable, "-m", "identity", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def test_policy_activate_list_show(settings: Settings, tmp_path: Path) -> None:
    listed = run(settings, "policy", "list")
    assert listed.returncode == 0, listed.stderr
    assert "active for cli-payer: (none)" in listed.stdout

    activated = run(settings, "policy", "activate", "default")
    assert activated.returncode == 0, activated.stderr
    version = activated.stdout.split()[0]
    assert version == find_policy(RULES_DIR, "default").version
    assert "already active" in run(settings, "policy", "activate", "default").stdout
    assert "* default.yaml" in run(settings, "policy", "list").stdout

    shown = run(settings, "policy", "show", version)
    assert "(stored)" in shown.stdout
    assert "twins-different-given-name" in shown.stdout

    # The same label with other content is refused: an active policy never changes.
    edited = tmp_path / "rules"
    edited.mkdir()
    text = (RULES_DIR / "default.yaml").read_text().replace("margin: 0.10", "margin: 0.25")
    (edited / "default.yaml").write_text(text)
    refused = run(settings, "policy", "activate", "default", rules_dir=edited)
    assert refused.returncode == 1
    assert "new label" in refused.stderr
    (edited / "default.yaml").write_text(text.replace('label: "1.5.0"', 'label: "1.1.1"'))
    assert run(settings, "policy", "activate", "default", rules_dir=edited).returncode == 0


def test_an_invalid_policy_lists_every_problem(settings: Settings, tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(
        (RULES_DIR / "default.yaml")
        .read_text()
        .replace("- email", "- shoe_size")
        .replace("margin: 0.10", "margin: 2")
    )
    result = run(settings, "policy", "activate", "bad", rules_dir=tmp_path)
    assert result.returncode == 1
    assert "shoe_size" in result.stderr
    assert "decision.margin" in result.stderr


def test_members_load_reports_bad_lines_and_loads_nothing(
    settings: Settings, tmp_path: Path
) -> None:
    good = tmp_path / "good.ndjson"
    good.write_text(json.dumps(fhir_patient(member_id="M1", resource_id="p1")) + "\n")
    bad = tmp_path / "bad.ndjson"
    bad.write_text(json.dumps(fhir_patient(member_id="M2")) + "\n{oops\n")
    result = run(settings, "members", "load", "--no-progress", str(good), str(bad))
    assert result.returncode == 1
    assert "bad.ndjson:2: not valid JSON" in result.stderr
    assert "nothing was loaded" in result.stderr
    ok = run(settings, "members", "load", "--no-progress", str(good))
    assert ok.returncode == 0, ok.stderr
    assert "inserted 1" in ok.stdout
    again = run(settings, "members", "load", "--no-progress", str(good))
    assert "inserted 0, updated 0, unchanged 1" in again.stdout


def test_db_upgrade_on_a_new_file(tmp_path: Path) -> None:
    fresh = Settings(database_url=f"sqlite:///{tmp_path / 'new.db'}")
    assert "schema at" in run(fresh, "db", "upgrade").stdout
    current = run(fresh, "db", "current").stdout
    database, code = current.split("code:")
    assert database.split()[-1] == code.strip()
