"""What a decision's evidence keeps once its demographics are purged (pure).

The evidence carries demographics in three places: the standardised query, each candidate's
standardised record, and the two values each comparison compared. Those go; what the decision was
and why stays: the policy version, the outcome, every candidate's member id, status, blocking key
names, rule verdicts and scores (levels, labels, m, u, weights, probability).
"""

from __future__ import annotations

from typing import Any

# The keys that hold demographics, at each level of the evidence.
_QUERY_KEYS = frozenset({"query"})
_CANDIDATE_KEYS = frozenset({"record"})
_FIELD_KEYS = frozenset({"left", "right"})


def redact_evidence(evidence: dict[str, Any]) -> dict[str, Any]:
    """The evidence without demographics; applying it twice gives the same result."""
    kept = {k: v for k, v in evidence.items() if k not in _QUERY_KEYS}
    if isinstance(evidence.get("candidates"), list):
        kept["candidates"] = [_candidate(c) for c in evidence["candidates"]]
    kept["purged"] = True
    return kept


def _candidate(candidate: Any) -> Any:
    if not isinstance(candidate, dict):
        return candidate
    kept = {k: v for k, v in candidate.items() if k not in _CANDIDATE_KEYS}
    score = candidate.get("score")
    if isinstance(score, dict) and isinstance(score.get("fields"), list):
        kept["score"] = {**score, "fields": [_field(f) for f in score["fields"]]}
    return kept


def _field(field: Any) -> Any:
    if not isinstance(field, dict):
        return field
    return {k: v for k, v in field.items() if k not in _FIELD_KEYS}
