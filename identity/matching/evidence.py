"""A resolution's candidates as a decision stores them: compact, built from its columns.

The document `GET /v1/matches/{id}` shows has, per candidate, what `CandidateVerdict.evidence()`
renders (every rule's verdict, every comparison's level with its m, u, weight and both sides) and
its record: about 3.3 KB a candidate, mostly repeated. Stored is what it is made from (layout 2,
`identity.matching.evidence_render`): the rule labels and the levels met once, per candidate the
rules that fired, its gammas and weights and its record's values (the record's keys are stored
once). `evidence_render` renders the document back; a test holds it equal to the verdicts'
documents byte for byte on the synthetic benchmark.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from identity.matching.record import record_as_dict

if TYPE_CHECKING:
    from identity.matching.engine import Resolution


def compact_candidates(resolution: Resolution) -> dict[str, Any]:
    """The stored form of a decision's candidates (`evidence_render.LAYOUT`): the rule labels
    once; the score evidence every candidate shares once (prior weight, per comparison the
    query's side and the levels met); per candidate its member id, status, blocking keys, the
    indices of the rules that fired, [match weight, probability, gammas(, tf adjustments when
    any is not 0)] or null, guards, steward mark and its record's values (`record_as_dict`'s
    keys, the same for every record, stored once). A fifth of the documents' size, and cheaper
    to build: no per-field entry is made."""
    matcher, scores, scorer = resolution.matcher, resolution.scores, resolution.matcher.scorer
    out: dict[str, Any] = {"rules": [[name, kind] for name, kind in matcher.ruleset.labels]}
    scored: list[list[Any] | None] = [None] * len(resolution.candidates)
    if scorer is not None and scores is not None:
        out["scoring"] = scorer.compact(resolution.scored_query, scores)
        scored = [
            [weight, probability, gammas, tf] if any(tf) else [weight, probability, gammas]
            for weight, probability, gammas, tf in zip(
                scores.weights, scores.probabilities, scores.gammas, scores.tf, strict=True
            )
        ]
    # Most candidates share a row of rule verdicts (none fired): its indices listed once.
    indices: dict[tuple[bool, ...], list[int]] = {}
    rows = []
    record_keys: list[str] = []
    for i, (candidate, status, fired, score, mark) in enumerate(
        zip(
            resolution.candidates,
            resolution.statuses,
            resolution.fired,
            scored,
            resolution.steward,
            strict=True,
        )
    ):
        fired_at = indices.get(fired)
        if fired_at is None:
            fired_at = indices[fired] = [j for j, f in enumerate(fired) if f]
        row: dict[str, Any] = {
            "member_id": candidate.member_id,
            "status": status.value,
            "blocking_keys": list(candidate.matched_keys),
            "fired": fired_at,
            "score": score,
        }
        if i == resolution.guarded and resolution.guard_checks:
            row["guards"] = [g.as_dict() for g in resolution.guard_checks]
        if mark is not None:
            row["steward_decision"] = mark.as_dict()
        record = record_as_dict(candidate.record)
        record_keys = record_keys or list(record)
        row["record"] = list(record.values())
        rows.append(row)
    out["record_keys"] = record_keys
    out["candidates"] = rows
    return out
