"""A resolution's per-candidate evidence documents, built from its columns.

The stored document of each candidate is what `CandidateVerdict.evidence()` renders; building it
through the verdicts makes a RuleResult per rule and a FieldScore per comparison per candidate
only to turn each back into a dict. Here each part is filled in straight from the rows the
matcher computed (rule verdicts, levels, weights). A test holds the two equal on the synthetic
benchmark, key order included: the stored bytes must not change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from identity.matching.engine import Resolution


def candidate_documents(resolution: Resolution) -> list[dict[str, Any]]:
    """One evidence document per candidate, in the resolution's order."""
    matcher, scores = resolution.matcher, resolution.scores
    candidates = resolution.candidates
    labels = matcher.ruleset.labels
    scored: list[dict[str, Any] | None] = [None] * len(candidates)
    if matcher.scorer is not None and scores is not None:
        records = [c.record for c in candidates]
        scored = list(matcher.scorer.documents(resolution.scored_query, records, scores))
    # Most candidates share a row of rule verdicts (none fired): one list per distinct row.
    rules: dict[tuple[bool, ...], list[dict[str, Any]]] = {}
    out = []
    for i, (candidate, status, fired, score, mark) in enumerate(
        zip(
            candidates,
            resolution.statuses,
            resolution.fired,
            scored,
            resolution.steward,
            strict=True,
        )
    ):
        document: dict[str, Any] = {
            "member_id": candidate.member_id,
            "status": status.value,
            "blocking_keys": list(candidate.matched_keys),
            "rules": rules.get(fired) or rules.setdefault(fired, _rules(labels, fired)),
            "score": score,
        }
        if i == resolution.guarded and resolution.guard_checks:
            document["guards"] = [g.as_dict() for g in resolution.guard_checks]
        if mark is not None:
            document["steward_decision"] = mark.as_dict()
        out.append(document)
    return out


def _rules(labels: tuple[tuple[str, str], ...], fired: tuple[bool, ...]) -> list[dict[str, Any]]:
    return [
        {"rule": name, "kind": kind, "fired": f}
        for (name, kind), f in zip(labels, fired, strict=True)
    ]
