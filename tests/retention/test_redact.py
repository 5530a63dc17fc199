"""What a purged decision's evidence keeps (pure, table-driven)."""

from __future__ import annotations

from typing import Any

import pytest

from identity.retention.redact import redact_evidence

FIELD = {"comparison": "given_name", "gamma": 4, "label": "exact", "left": "ANA", "right": "ANA"}
SCORE = {"prior_weight": -9.0, "match_weight": 12.5, "probability": 0.9998, "fields": [FIELD]}
RULES = [{"rule": "household-relative", "kind": "negative", "fired": True}]
CANDIDATE = {
    "member_id": "M7",
    "status": "open",
    "blocking_keys": ["phone"],
    "rules": RULES,
    "score": SCORE,
    "record": {"given": "ANA", "family": "SOUZA", "birth_date": "1990-01-02"},
}
EVIDENCE = {
    "policy_version": "1.3.0+abc",
    "decision": {"outcome": "match", "stage": "probabilistic", "reason": "match-threshold"},
    "rules_without_ssn": False,
    "query": {"given": "ANA", "family": "SOUZA", "birth_date": "1990-01-02"},
    "candidates": [
        CANDIDATE,
        {**CANDIDATE, "member_id": "M8", "status": "excluded", "score": None},
    ],
}
KEPT_FIELD = {"comparison": "given_name", "gamma": 4, "label": "exact"}
KEPT_CANDIDATE = {
    "member_id": "M7",
    "status": "open",
    "blocking_keys": ["phone"],
    "rules": RULES,
    "score": {**SCORE, "fields": [KEPT_FIELD]},
}

CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "query, records and compared values go; the rest stays",
        EVIDENCE,
        {
            "policy_version": "1.3.0+abc",
            "decision": EVIDENCE["decision"],
            "rules_without_ssn": False,
            "candidates": [
                KEPT_CANDIDATE,
                {**KEPT_CANDIDATE, "member_id": "M8", "status": "excluded", "score": None},
            ],
            "purged": True,
        },
    ),
    (
        "no candidates",
        {"policy_version": "v", "query": {"given": "ANA"}, "candidates": []},
        {"policy_version": "v", "candidates": [], "purged": True},
    ),
]


@pytest.mark.parametrize(
    ("evidence", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_redacted_evidence(evidence: dict[str, Any], expected: dict[str, Any]) -> None:
    assert redact_evidence(evidence) == expected
    assert redact_evidence(redact_evidence(evidence)) == expected  # idempotent
    assert "ANA" not in str(redact_evidence(evidence))
