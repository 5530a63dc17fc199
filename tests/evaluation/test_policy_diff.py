"""`identity policy diff A B`: every change, by section, rules by name, weights before/after."""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy.orm import Session, sessionmaker

from identity.config import Settings
from identity.db import transaction
from identity.evaluation.policy_diff import diff
from identity.matching.policy import Policy, find_policy, parse_policy
from identity.policy import service as policy_service
from tests.conftest import RULES_DIR
from tests.evaluation.conftest import run_cli

DEFAULT = find_policy(RULES_DIR, "default")


def _edited() -> tuple[dict[str, Any], Policy]:
    """The default policy with one of each kind of change."""
    doc = copy.deepcopy(yaml.safe_load(DEFAULT.source_text))
    doc["label"] = "diff-test-1"
    doc["decision"]["match_probability"] = 0.99
    removed = doc["rules"]["positive"].pop(0)
    doc["rules"]["negative"].append(
        {"name": "test-only-rule", "when": {"sex": "differ", "birth_date": "differ"}}
    )
    changed = next(r for r in doc["rules"]["negative"] if "suffix" not in r["when"])
    changed["when"]["suffix"] = "differ"
    comparison = doc["comparisons"][0]["name"]
    level = next(iter(doc["model"]["parameters"][comparison]))
    doc["model"]["parameters"][comparison][level]["m"] = 0.5
    facts = {
        "removed": removed["name"],
        "changed": changed["name"],
        "comparison": comparison,
        "level": level,
    }
    return facts, parse_policy(yaml.safe_dump(doc, sort_keys=False))


def test_each_kind_of_change_is_named_in_its_section() -> None:
    facts, edited = _edited()
    changes = diff(DEFAULT, edited)
    by_section: dict[str, list[str]] = {}
    for c in changes:
        by_section.setdefault(c.section, []).append(c.text)
    assert by_section["label"] == [f'~ label: "{DEFAULT.label}" -> "diff-test-1"']
    assert by_section["decision"] == [
        f"~ decision.match_probability: {DEFAULT.document.decision.match_probability!r} -> 0.99"
    ]
    rules = by_section["rules"]
    assert f"- rules.positive[{facts['removed']}]" in rules
    assert (
        '+ rules.negative[test-only-rule]: {"description": "", '
        '"when": {"birth_date": "differ", "sex": "differ"}}'
    ) in rules
    assert f'+ rules.negative[{facts["changed"]}].when.suffix: "differ"' in rules
    assert len(rules) == 3
    old = DEFAULT.document.model
    assert old is not None
    before = old.parameters[facts["comparison"]][facts["level"]]
    w0, w1 = math.log2(before.m / before.u), math.log2(0.5 / before.u)
    assert by_section["model"] == [
        f"{facts['comparison']}.{facts['level']}: m {before.m!r} -> 0.5, u {before.u!r} -> "
        f"{before.u!r}, weight {w0:+.2f} -> {w1:+.2f}"
    ]
    assert list(by_section) == ["label", "rules", "decision", "model"]


def test_the_same_policy_has_no_difference() -> None:
    assert diff(DEFAULT, DEFAULT) == []


def test_a_stored_version_against_a_file(
    settings: Settings, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    """A: the version stored in the database (its file gone); B: a file anywhere."""
    _, edited = _edited()
    with transaction(sessions) as session:
        policy_service.activate(session, "diff-tenant", edited)
    empty = tmp_path / "rules"
    empty.mkdir()
    done = run_cli(settings, "policy", "diff", edited.version, str(RULES_DIR / "default.yaml"),
                   rules_dir=empty)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"policy {edited.version} -> {DEFAULT.version}\n")
    assert "[decision]\n  ~ decision.match_probability: 0.99 -> " in done.stdout
    assert "+ rules.positive[" in done.stdout
    unknown = run_cli(settings, "policy", "diff", "no-such-policy", "default")
    assert unknown.returncode == 2
    assert "no-such-policy: not a policy file" in unknown.stderr
